package dev.tfdpo.trainer;

import dev.tfdpo.cli.Cli;
import dev.tfdpo.cli.KeyHelp;
import dev.tfdpo.graphs.GrpcCluster;
import dev.tfdpo.trainer.config.ConfigException;
import dev.tfdpo.trainer.config.TfConfig;
import dev.tfdpo.trainer.config.TrainConfig;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;

/**
 * {@code scripts/train.sh [CONFIG.json] [--key value ...]}: with no config file, trains the embedded
 * default ({@code configs/default.json}: the tiny model and data shipped in the repository). Errors and
 * exit status go through {@link Cli}.
 */
public final class TrainMain {

  /** The config used when none is given. */
  public static final String DEFAULT_CONFIG = "configs/default.json";

  private TrainMain() {}

  public static void main(String[] args) {
    Cli.main("train", args, TrainMain::run);
  }

  static int run(String[] args) throws IOException {
    List<String> rest = Arrays.asList(args);
    if (rest.contains("--help") || rest.contains("-h")) {
      System.out.println("usage: scripts/train.sh [CONFIG.json] [--key value | --key=value ...] [--debug]");
      System.out.println("  with no CONFIG, trains the tiny model shipped in the repository (" + DEFAULT_CONFIG + ")");
      System.out.println("  --debug: print the stack trace of an error (also TFDPO_DEBUG=1) and TensorFlow's log");
      System.out.println("exit status: 0 done, 1 failed while running, 2 bad config, data or output_dir, 130 interrupted");
      System.out.println("keys:");
      System.out.print(KeyHelp.all());
      return Cli.OK;
    }
    Path configFile;
    if (!rest.isEmpty() && !rest.get(0).startsWith("--")) {
      configFile = Path.of(rest.get(0));
      rest = rest.subList(1, rest.size());
    } else {
      configFile = ProjectPaths.root().resolve(DEFAULT_CONFIG);
      System.out.println("no config given: training the embedded default " + configFile);
    }
    if (!Files.isRegularFile(configFile)) {
      throw new ConfigException("config file " + configFile + (Files.isDirectory(configFile)
          ? " is a directory; give the JSON config file (e.g. configs/default.json)" : " does not exist"));
    }
    TrainConfig config = TrainConfig.load(configFile, rest);
    Optional<GrpcCluster> cluster = TfConfig.fromEnvironment(); // several processes: docs/distributed.md
    if (cluster.isPresent()) {
      ClusterRun.check(config);
      // The run records one replica per task as the devices count: a checkpoint then resumes with the same
      // number of replicas (tasks, or in-process devices, which cut the data alike) and no other.
      List<String> withDevices = new java.util.ArrayList<>(rest);
      withDevices.addAll(List.of("--devices", String.valueOf(cluster.get().size())));
      TrainConfig perTask;
      try {
        perTask = TrainConfig.load(configFile, withDevices);
      } catch (ConfigException e) {
        throw new ConfigException("with TF_CONFIG (" + cluster.get().size() + " workers, one replica each: "
            + "--devices " + cluster.get().size() + "): " + e.getMessage());
      }
      return ClusterRun.run(perTask, cluster.get(), System.out, System.console() != null);
    }
    DpoTrainer.run(config, System.out, System.console() != null);
    return Cli.OK;
  }
}
