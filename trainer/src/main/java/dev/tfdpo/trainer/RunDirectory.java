package dev.tfdpo.trainer;

import com.google.gson.GsonBuilder;
import com.google.gson.JsonObject;
import dev.tfdpo.io.DurableFiles;
import dev.tfdpo.io.OutputDirLock;
import dev.tfdpo.io.checkpoint.Checkpoints;
import dev.tfdpo.io.hf.HfModelWriter;
import dev.tfdpo.io.safetensors.SafeTensorsReader;
import dev.tfdpo.trainer.config.ConfigException;
import dev.tfdpo.trainer.config.TrainConfig;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.stream.Stream;

/**
 * One run per output directory. A new run (no checkpoint to continue) refuses a directory that holds
 * another run's outputs unless {@code overwrite_output_dir} is set, which removes them first; nothing is
 * written before the run's inputs are validated ({@link #begin} is called after that). Each run has a
 * fingerprint, {@code run_id}, kept by a resumed run and written into {@code resolved_config.json} and
 * the metadata of the model files, so that export and resume can tell when files of two runs meet.
 */
final class RunDirectory {

  /** The fingerprint's member in {@code resolved_config.json} and key in the safetensors metadata. */
  static final String RUN_ID = RunFingerprint.KEY;

  /** Files of the final model at the top of {@code output_dir}, rewritten at the end of every run. */
  private static final Set<String> FINAL_FILES = finalFiles();

  private static final Set<String> RUN_FILES = Set.of(DpoTrainer.CONFIG_FILE, DpoTrainer.METRICS_FILE,
      DpoTrainer.SUMMARY_FILE, Evaluator.SUMMARY_FILE, "runs", Checkpoints.LATEST);

  private RunDirectory() {}

  /**
   * Refuses to start a new run in a directory holding another run's outputs (called before anything is
   * written). A run continuing a checkpoint of this directory is not new.
   */
  static void checkStart(Path outputDir, boolean overwrite, Optional<TrainingCheckpoints.Resume> resume)
      throws IOException {
    if (overwrite || resume.filter(r -> r.directory().startsWith(outputDir)).isPresent()) {
      return;
    }
    List<Path> old = outputs(outputDir);
    if (!old.isEmpty()) {
      throw new ConfigException("output_dir " + outputDir + " holds the outputs of another run ("
          + names(old) + "). To continue that run pass --resume_from_checkpoint auto; to start over set"
          + " overwrite_output_dir: true (--overwrite_output_dir true), which removes those files first;"
          + " or choose another output_dir");
    }
  }

  /**
   * Refuses an output_dir that would destroy an input: the model directory itself (a run replaces the
   * final model files at the top of output_dir), or, with {@code overwrite}, an input inside one of the
   * old run's outputs (training from {@code output_dir/checkpoint-N} while removing it).
   */
  static void checkInputsSurvive(Path outputDir, boolean overwrite, List<Path> inputs) throws IOException {
    List<Path> removable = overwrite ? outputs(outputDir) : List.of();
    for (Path input : inputs) {
      Path in = input.toAbsolutePath().normalize();
      boolean inside = removable.stream().anyMatch(in::startsWith);
      if (in.equals(outputDir) || inside) {
        throw new ConfigException("output_dir " + outputDir + " would remove the run's own input " + in
            + (inside ? " (overwrite_output_dir removes it before it is read)" : " (the run writes its final model there)")
            + "; choose another output_dir");
      }
    }
  }

  /**
   * Starts writing, once the inputs are valid: removes the old run's outputs ({@code overwrite}) or the
   * previous final model (a resumed run writes its own at the end), then writes {@code
   * resolved_config.json} with the run's fingerprint. Returns the fingerprint: the checkpoint's when
   * continuing one, else a new one.
   */
  static String begin(Path outputDir, TrainConfig config, boolean overwrite,
      Optional<TrainingCheckpoints.Resume> resume, PrintStream out) throws IOException {
    if (overwrite) {
      List<Path> old = outputs(outputDir);
      for (Path p : old) {
        DurableFiles.deleteRecursively(p);
      }
      if (!old.isEmpty()) {
        out.printf("overwrite_output_dir: removed the previous run's %s%n", names(old));
      }
    } else {
      for (Path p : entries(outputDir)) {
        if (FINAL_FILES.contains(p.getFileName().toString()) || isWeightFile(p)) {
          Files.delete(p);
        }
      }
    }
    String runId = resume.flatMap(r -> RunFingerprint.of(r.directory().resolve(DpoTrainer.CONFIG_FILE)))
        .orElseGet(RunFingerprint::create);
    saveConfig(config, runId, outputDir.resolve(DpoTrainer.CONFIG_FILE));
    return runId;
  }

  /** Writes {@code resolved_config.json} atomically, the fingerprint first. */
  static void saveConfig(TrainConfig config, String runId, Path file) throws IOException {
    JsonObject json = new JsonObject();
    json.addProperty(RUN_ID, runId);
    config.toJson().entrySet().forEach(e -> json.add(e.getKey(), e.getValue()));
    byte[] bytes = (new GsonBuilder().setPrettyPrinting().create().toJson(json) + "\n")
        .getBytes(StandardCharsets.UTF_8);
    DurableFiles.writeAtomically(file, channel -> {
      ByteBuffer b = ByteBuffer.wrap(bytes);
      while (b.hasRemaining()) {
        channel.write(b);
      }
    });
  }

  /** The trainer's outputs present in {@code dir}: what a new run would mix with. */
  static List<Path> outputs(Path dir) throws IOException {
    List<Path> out = new ArrayList<>();
    for (Path p : entries(dir)) {
      String name = p.getFileName().toString();
      if (RUN_FILES.contains(name) || FINAL_FILES.contains(name) || isWeightFile(p)
          || Checkpoints.stepOf(p).isPresent() || name.startsWith(Checkpoints.TEMP_PREFIX + Checkpoints.PREFIX)) {
        out.add(p);
      }
    }
    return out;
  }

  private static List<Path> entries(Path dir) throws IOException {
    if (!Files.isDirectory(dir)) {
      return List.of();
    }
    try (Stream<Path> s = Files.list(dir)) {
      return s.filter(p -> !p.getFileName().toString().equals(OutputDirLock.FILE)).sorted().toList();
    }
  }

  private static boolean isWeightFile(Path p) {
    String name = p.getFileName().toString();
    return name.equals(SafeTensorsReader.INDEX_FILE) || (name.startsWith("model") && name.endsWith(".safetensors"));
  }

  private static Set<String> finalFiles() {
    List<String> names = new ArrayList<>(HfModelWriter.SIDE_FILES);
    names.add(DpoTrainer.LOSS_CHART);
    return Set.copyOf(names);
  }

  private static String names(List<Path> paths) {
    List<String> names = paths.stream().map(p -> p.getFileName().toString()).toList();
    return names.size() <= 6 ? String.join(", ", names)
        : String.join(", ", names.subList(0, 6)) + " and " + (names.size() - 6) + " more";
  }
}
