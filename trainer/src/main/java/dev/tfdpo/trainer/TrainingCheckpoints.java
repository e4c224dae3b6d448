package dev.tfdpo.trainer;

import dev.tfdpo.graphs.training.TrainingGraph;
import dev.tfdpo.io.checkpoint.CheckpointLocator;
import dev.tfdpo.io.checkpoint.CheckpointWriter;
import dev.tfdpo.io.checkpoint.Checkpoints;
import dev.tfdpo.trainer.config.TrainConfig;
import dev.tfdpo.trainer.config.TrainingArgs;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Map;
import java.util.Optional;

/**
 * The trainer's checkpoints: when to save, what goes into {@code checkpoint-N/}, and where a resumed run
 * starts. The directory mechanics (temporary directory, manifest with SHA-256, rename, {@code latest}
 * marker, {@code save_total_limit}) are {@link CheckpointWriter}'s; verification and the {@code auto}
 * fall-back are {@link CheckpointLocator}'s.
 *
 * <p>A checkpoint holds: {@code tf/state.*} (policy weights and AdamW moments, TensorFlow SaveV2
 * format), {@code model.safetensors} with {@code config.json} and the tokenizer files (the policy as a
 * Hugging Face model), {@code trainer_state.json} (step, data position, seed, metric sums),
 * {@code resolved_config.json} and {@code metrics.jsonl} (every line logged so far).
 */
final class TrainingCheckpoints {

  /** Prefix of the TensorFlow checkpoint inside a checkpoint directory. */
  static final String TF_STATE = "tf/state";

  /**
   * Fault injection for the crash tests: when set to a step, the process kills itself with SIGKILL in
   * the middle of writing that step's checkpoint (after the TensorFlow state, before the rest).
   */
  static final String KILL_DURING_SAVE_PROPERTY = "tfdpo.test.killDuringSave";

  /** The synced reference's weights, by Hugging Face name, in checkpoints of runs that update it. */
  static final String REFERENCE_FILE = "reference.safetensors";

  /** A checkpoint to resume from and its state. */
  record Resume(Path directory, TrainerState state) {}

  private final CheckpointWriter writer;
  private final String strategy;
  private final int saveSteps;
  private final String runId;

  TrainingCheckpoints(Path outputDir, TrainingArgs t, String runId) {
    this.runId = runId;
    this.writer = new CheckpointWriter(outputDir, t.saveTotalLimit());
    this.strategy = t.saveStrategy();
    this.saveSteps = t.saveSteps();
  }

  /** Whether this run writes checkpoints at all. */
  boolean enabled() {
    return !strategy.equals("no");
  }

  /** Removes what saves interrupted by a crash left behind; returns how many were removed. */
  int cleanUp() throws IOException {
    return writer.removeStaleTemporaries().size();
  }

  /**
   * Whether step {@code step} ends with a checkpoint: as Hugging Face's Trainer, every
   * {@code save_steps} (or at each epoch end) and at the last step, never with {@code no}.
   */
  boolean due(long step, boolean epochEnd, boolean last) {
    return switch (strategy) {
      case "steps" -> step % saveSteps == 0 || last;
      case "epoch" -> epochEnd || last;
      default -> false;
    };
  }

  /**
   * Saves the state after step {@code state.globalStep()}: the trainable weights and the optimizer's
   * moments ({@code tf/state}), the model as the objective writes it (for export), the trainer state, the
   * config and the metrics so far. Returns the checkpoint directory.
   */
  Path save(TrainerState state, TrainingGraph<?> graph, TrainingObjective<?> objective, TrainConfig config,
      Path metricsFile) throws IOException {
    long step = state.globalStep();
    CheckpointWriter.SavedCheckpoint saved = writer.save(step, dir -> {
      Files.createDirectories(dir.resolve(TF_STATE).getParent());
      graph.saveState(dir.resolve(TF_STATE));
      killHereIfAsked(step);
      objective.writeCheckpointModel(dir, Map.of(RunDirectory.RUN_ID, runId));
      state.write(dir.resolve(TrainerState.FILE));
      RunDirectory.saveConfig(config, runId, dir.resolve(DpoTrainer.CONFIG_FILE));
      Files.copy(metricsFile, dir.resolve(DpoTrainer.METRICS_FILE), StandardCopyOption.REPLACE_EXISTING);
    });
    saved.warnings().forEach(w -> System.err.println("warning: " + w));
    return saved.directory();
  }

  /**
   * The checkpoint of {@code state}'s step: the one already saved at that step, else a new one. Used
   * after a non-finite step, when the graph still holds the previous step's state.
   */
  Path saveIfMissing(TrainerState state, TrainingGraph<?> graph, TrainingObjective<?> objective, TrainConfig config,
      Path metricsFile) throws IOException {
    Path existing = writer.outputDir().resolve(Checkpoints.directoryName(state.globalStep()));
    return Files.isDirectory(existing) ? existing : save(state, graph, objective, config, metricsFile);
  }

  /**
   * The checkpoint named by {@code resume_from_checkpoint}: empty when the key is empty, or when it is
   * {@code auto} and no checkpoint verifies (said on {@code out}); an explicit checkpoint that is
   * missing or corrupt is an error.
   */
  static Optional<Resume> locate(String spec, Path outputDir, PrintStream out) throws IOException {
    if (spec.isEmpty()) {
      return Optional.empty();
    }
    CheckpointLocator.Resolution r = CheckpointLocator.resolve(outputDir, spec);
    r.skipped().forEach(s -> out.println("resume: skipping " + s));
    if (!r.found()) {
      out.println("resume: " + r.reason() + "; starting from the model");
      return Optional.empty();
    }
    Path dir = r.checkpoint().orElseThrow();
    TrainerState state = TrainerState.read(dir.resolve(TrainerState.FILE));
    out.printf("resume: from %s (step %d, epoch %d, micro-batch %d)%n",
        dir, state.globalStep(), state.epoch(), state.nextMicroBatch());
    return Optional.of(new Resume(dir, state));
  }

  private static void killHereIfAsked(long step) throws IOException {
    String at = System.getProperty(KILL_DURING_SAVE_PROPERTY);
    if (at == null || Long.parseLong(at) != step) {
      return;
    }
    ProcessBuilder kill = new ProcessBuilder("kill", "-KILL", Long.toString(ProcessHandle.current().pid()));
    try {
      kill.start().waitFor();
      Thread.sleep(60_000);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    throw new IOException("fault injection: SIGKILL did not stop the process");
  }
}
