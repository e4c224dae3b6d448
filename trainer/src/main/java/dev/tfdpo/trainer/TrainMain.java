package dev.tfdpo.trainer;

import dev.tfdpo.trainer.config.ConfigException;
import dev.tfdpo.trainer.config.TrainConfig;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;

/**
 * {@code scripts/train.sh [CONFIG.json] [--key value ...]}: with no config file, trains the embedded
 * default ({@code configs/default.json}: the tiny model and data shipped in the repository).
 */
public final class TrainMain {

  /** The config used when none is given. */
  public static final String DEFAULT_CONFIG = "configs/default.json";

  private TrainMain() {}

  public static void main(String[] args) {
    List<String> rest = Arrays.asList(args);
    if (rest.contains("--help") || rest.contains("-h")) {
      System.out.println("usage: scripts/train.sh [CONFIG.json] [--key value ...]");
      System.out.println("  with no CONFIG, trains the tiny model shipped in the repository (" + DEFAULT_CONFIG + ")");
      System.out.println("  every key and its default is listed in docs/configuration.md");
      return;
    }
    Path configFile;
    if (!rest.isEmpty() && !rest.get(0).startsWith("--")) {
      configFile = Path.of(rest.get(0));
      rest = rest.subList(1, rest.size());
    } else {
      configFile = ProjectPaths.root().resolve(DEFAULT_CONFIG);
      System.out.println("no config given: training the embedded default " + configFile);
    }
    try {
      if (!Files.isRegularFile(configFile)) {
        throw new ConfigException("config file " + configFile + " does not exist");
      }
      TrainConfig config = TrainConfig.load(configFile, rest);
      DpoTrainer.run(config, System.out, System.console() != null);
    } catch (ConfigException e) {
      System.err.println("config error: " + e.getMessage());
      System.exit(2);
    } catch (IOException | IllegalArgumentException | NonFiniteStepException e) {
      System.err.println("error: " + e.getMessage());
      System.exit(1);
    }
  }
}
