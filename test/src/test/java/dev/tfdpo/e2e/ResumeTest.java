package dev.tfdpo.e2e;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tfdpo.graphs.Tensors;
import dev.tfdpo.io.checkpoint.CheckpointVerifier;
import dev.tfdpo.io.safetensors.SafeTensorsReader;
import dev.tfdpo.trainer.DpoTrainer;
import dev.tfdpo.trainer.config.TrainConfig;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.tensorflow.Graph;
import org.tensorflow.Session;
import org.tensorflow.ndarray.NdArrays;
import org.tensorflow.op.Ops;
import org.tensorflow.op.train.Restore;
import org.tensorflow.types.TFloat32;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Exact resume: a run killed with SIGKILL (between steps, or in the middle of writing a checkpoint) and
 * resumed with {@code resume_from_checkpoint auto} writes a {@code metrics.jsonl} and final weights
 * byte-identical to the uninterrupted run's. Runs cross an epoch boundary with shuffled data, and log
 * every 3 steps while saving every 2, so the saved metric sums of a half-finished logging interval matter.
 */
class ResumeTest {

  static final Path ROOT = TrlCurveParityTest.ROOT;

  /** 64 pairs, 8 per micro-batch, 2 micro-batches per step: 4 steps per epoch, 7 steps cross into epoch 2. */
  static final List<String> RUN = List.of(
      "--max_steps", "7", "--per_device_train_batch_size", "8", "--gradient_accumulation_steps", "2",
      "--train_sampling_strategy", "random", "--logging_steps", "3", "--save_steps", "2",
      "--report_to", "none", "--num_threads", "2", "--max_seq_len", "128");

  @TempDir static Path work;
  static Path uninterrupted;

  @BeforeAll
  static void trainWithoutInterruption() throws Exception {
    uninterrupted = work.resolve("uninterrupted");
    run(uninterrupted, List.of());
    List<String> lines = Files.readAllLines(uninterrupted.resolve(DpoTrainer.METRICS_FILE));
    assertEquals(List.of(3, 6, 7), lines.stream().map(ResumeTest::step).toList());
    for (String checkpoint : List.of("checkpoint-2", "checkpoint-4", "checkpoint-6", "checkpoint-7")) {
      assertTrue(CheckpointVerifier.verify(uninterrupted.resolve(checkpoint)).ok(), checkpoint);
    }
  }

  @Test
  void killedBetweenStepsThenResumed() throws Exception {
    Path dir = work.resolve("killed-between-steps");
    Process p = start(dir, List.of());
    // Wait until step 3 is logged (checkpoint-2 exists), then SIGKILL wherever the run is.
    waitFor(p, () -> lineCount(dir.resolve(DpoTrainer.METRICS_FILE)) >= 1);
    p.destroyForcibly().waitFor(60, TimeUnit.SECONDS);
    assertNotEquals(0, p.exitValue());
    // The run really resumes from the newest checkpoint the killed run completed, not from the model.
    String latest = Files.readString(dir.resolve("latest")).trim();
    int saved = Integer.parseInt(latest.substring("checkpoint-".length()));
    assertTrue(saved >= 2 && saved < 7, latest);
    String log = run(dir, List.of("--resume_from_checkpoint", "auto"));
    assertTrue(log.contains("resume: from " + dir.resolve(latest) + " (step " + saved + ","), log);
    assertTrue(log.contains("continuing after step " + saved), log);
    assertSameRun(dir);
  }

  @Test
  void killedWhileSavingThenResumedFromThePreviousCheckpoint() throws Exception {
    Path dir = work.resolve("killed-while-saving");
    Process p = start(dir, List.of("-Dtfdpo.test.killDuringSave=4"));
    assertTrue(p.waitFor(300, TimeUnit.SECONDS), "the run did not die");
    assertEquals(137, p.exitValue(), "expected death by SIGKILL");
    assertFalse(Files.exists(dir.resolve("checkpoint-4")), "a half-written checkpoint took the final name");
    assertTrue(CheckpointVerifier.verify(dir.resolve("checkpoint-2")).ok());
    assertEquals("checkpoint-2", Files.readString(dir.resolve("latest")).trim());
    try (Stream<Path> files = Files.list(dir)) {
      assertTrue(files.anyMatch(f -> f.getFileName().toString().startsWith(".tmp-checkpoint-4")),
          "the interrupted write should have left its temporary directory");
    }
    String log = run(dir, List.of("--resume_from_checkpoint", "auto"));
    assertTrue(log.contains("removed 1 unfinished checkpoint write"), log);
    assertTrue(log.contains("checkpoint-2 (step 2"), log);
    assertSameRun(dir);
  }

  @Test
  void corruptNewestCheckpointFallsBackToThePreviousOne() throws Exception {
    Path dir = work.resolve("corrupt");
    copyTree(uninterrupted, dir);
    // Truncate the TensorFlow data file of the newest checkpoints: the manifest's size check catches it.
    for (String checkpoint : List.of("checkpoint-7", "checkpoint-6")) {
      try (Stream<Path> files = Files.list(dir.resolve(checkpoint).resolve("tf"))) {
        Path data = files.filter(f -> f.getFileName().toString().contains(".data-")).findFirst().orElseThrow();
        try (var channel = Files.newByteChannel(data, StandardOpenOption.WRITE)) {
          channel.truncate(channel.size() / 2);
        }
      }
    }
    // The run after the resume writes its own checkpoints over the corrupt ones.
    String log = run(dir, List.of("--resume_from_checkpoint", "auto"));
    assertTrue(log.contains("resume: skipping checkpoint-7"), log);
    assertTrue(log.contains("resume: skipping checkpoint-6"), log);
    assertTrue(log.contains("checkpoint-4 (step 4"), log);
    assertSameRun(dir);
  }

  @Test
  void tensorFlowCheckpointHoldsThePolicyUnderItsHuggingFaceName() throws Exception {
    Path checkpoint = uninterrupted.resolve("checkpoint-7");
    String name = "model.layers.1.mlp.down_proj.weight";
    float[] fromTf;
    // A plain RestoreV2 in a fresh graph, as any TensorFlow tool reads a checkpoint.
    try (Graph g = new Graph(); Session s = new Session(g)) {
      Ops tf = Ops.create(g);
      Restore restore = tf.train.restore(
          tf.constant(checkpoint.resolve("tf/state").toString()),
          tf.constant(NdArrays.vectorOfObjects("policy/" + name)),
          tf.constant(NdArrays.vectorOfObjects("")),
          List.of(TFloat32.class));
      try (var result = s.runner().fetch(restore.tensors().get(0)).run()) {
        fromTf = Tensors.toFloats(result.get(0));
      }
    }
    try (SafeTensorsReader st = SafeTensorsReader.open(checkpoint)) {
      assertArrayEquals(st.readFloats(name), fromTf);
    }
  }

  @Test
  void aSyncedReferenceIsPartOfTheCheckpoint() throws Exception {
    // TR-DPO mixes the policy into the reference every 2 steps: resuming from checkpoint-4 must bring back
    // the mixed reference, not the starting model.
    List<String> trDpo = List.of("--sync_ref_model", "true", "--ref_model_sync_steps", "2",
        "--ref_model_mixup_alpha", "0.5", "--max_steps", "6", "--logging_steps", "1");
    Path whole = work.resolve("tr-dpo-whole");
    run(whole, trDpo);
    Path resumed = work.resolve("tr-dpo-resumed");
    copyTree(whole, resumed);
    for (String gone : List.of("checkpoint-6", "model.safetensors", "latest")) {
      deleteTree(resumed.resolve(gone));
    }
    assertTrue(Files.exists(resumed.resolve("checkpoint-4/reference.safetensors")));
    List<String> again = new ArrayList<>(trDpo);
    again.addAll(List.of("--resume_from_checkpoint", "auto"));
    String log = run(resumed, again);
    assertTrue(log.contains("checkpoint-4 (step 4"), log);
    assertEquals(Files.readString(whole.resolve(DpoTrainer.METRICS_FILE)),
        Files.readString(resumed.resolve(DpoTrainer.METRICS_FILE)));
    assertArrayEquals(Files.readAllBytes(whole.resolve("model.safetensors")),
        Files.readAllBytes(resumed.resolve("model.safetensors")));
  }

  static void deleteTree(Path p) throws IOException {
    if (!Files.exists(p)) {
      return;
    }
    try (Stream<Path> all = Files.walk(p)) {
      for (Path f : all.sorted(java.util.Comparator.reverseOrder()).toList()) {
        Files.delete(f);
      }
    }
  }

  /**
   * metrics.jsonl and the final weights, byte for byte (the tensor bytes of model.safetensors: its header
   * also holds the run fingerprint, which differs between the two runs, as in each metrics line).
   */
  static void assertSameRun(Path dir) throws IOException {
    assertEquals(metricsOfAnyRun(uninterrupted), metricsOfAnyRun(dir));
    assertArrayEquals(tensorBytes(uninterrupted.resolve("model.safetensors")), tensorBytes(dir.resolve("model.safetensors")));
  }

  /** {@code dir/metrics.jsonl} without each line's run fingerprint, to compare two runs' numbers. */
  static String metricsOfAnyRun(Path dir) throws IOException {
    return Files.readString(dir.resolve(DpoTrainer.METRICS_FILE)).replaceAll(",\"run_id\":\"[^\"]*\"", "");
  }

  /** A safetensors file without its 8-byte length and JSON header. */
  static byte[] tensorBytes(Path file) throws IOException {
    byte[] all = Files.readAllBytes(file);
    long headerLength = java.nio.ByteBuffer.wrap(all, 0, 8).order(java.nio.ByteOrder.LITTLE_ENDIAN).getLong();
    return java.util.Arrays.copyOfRange(all, 8 + (int) headerLength, all.length);
  }

  /** Trains in this JVM; returns the console output. */
  static String run(Path dir, List<String> extra) throws Exception {
    List<String> args = new ArrayList<>(RUN);
    args.addAll(List.of("--output_dir", dir.toString()));
    args.addAll(extra);
    TrainConfig config = TrainConfig.load(ROOT.resolve("configs/default.json"), args);
    ByteArrayOutputStream log = new ByteArrayOutputStream();
    DpoTrainer.run(config, new PrintStream(log, true, StandardCharsets.UTF_8), false);
    return log.toString(StandardCharsets.UTF_8);
  }

  /** Trains in a child JVM (so that it can be killed). */
  static Process start(Path dir, List<String> jvmOptions) throws IOException {
    List<String> command = new ArrayList<>();
    command.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
    command.add("-Dtfdpo.root=" + ROOT);
    command.addAll(jvmOptions);
    command.addAll(List.of("-cp", System.getProperty("java.class.path"), "dev.tfdpo.trainer.TrainMain"));
    command.add(ROOT.resolve("configs/default.json").toString());
    command.addAll(RUN);
    command.addAll(List.of("--output_dir", dir.toString()));
    Files.createDirectories(dir);
    ProcessBuilder pb = new ProcessBuilder(command).redirectErrorStream(true)
        .redirectOutput(dir.resolve("child.log").toFile());
    pb.environment().put("TF_CPP_MIN_LOG_LEVEL", "2");
    return pb.start();
  }

  interface Condition {
    boolean holds() throws IOException;
  }

  static void waitFor(Process p, Condition c) throws Exception {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(300);
    while (!c.holds()) {
      assertTrue(p.isAlive(), "the child run ended early");
      assertTrue(System.nanoTime() < deadline, "timed out");
      Thread.sleep(50);
    }
  }

  static long lineCount(Path file) throws IOException {
    if (!Files.exists(file)) {
      return 0;
    }
    return Files.readAllLines(file).stream().filter(l -> !l.isBlank()).count();
  }

  static int step(String line) {
    return com.google.gson.JsonParser.parseString(line).getAsJsonObject().get("step").getAsInt();
  }

  static void copyTree(Path from, Path to) throws IOException {
    try (Stream<Path> all = Files.walk(from)) {
      for (Path p : all.toList()) {
        Path target = to.resolve(from.relativize(p).toString());
        if (Files.isDirectory(p)) {
          Files.createDirectories(target);
        } else {
          Files.copy(p, target);
        }
      }
    }
  }
}
