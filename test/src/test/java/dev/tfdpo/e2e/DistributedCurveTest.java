package dev.tfdpo.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonObject;
import dev.tfdpo.trainer.DpoTrainer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The 16-step TRL run ({@code golden/a-sigmoid}: 4 pairs per micro-batch, one process) reproduced by two
 * processes over TensorFlow's gRPC runtime on loopback, 2 pairs each: two {@code TrainMain} JVMs with
 * {@code TF_CONFIG} index 0 and 1, as {@code scripts/train.sh --nproc_per_node 2} starts them. Every
 * logged metric within the one-process bounds ({@link CurveParity}); only the chief writes output.
 */
class DistributedCurveTest {

  static final Path CONFIG = DataParallelCurveTest.CONFIG;

  @TempDir static Path work;
  static Path chiefOut;
  static Path workerOut;
  static String chiefLog;
  static String workerLog;
  static int chiefStatus;
  static int workerStatus;
  static final List<Process> started = new ArrayList<>();

  @BeforeAll
  static void train() throws Exception {
    chiefOut = work.resolve("chief");
    workerOut = work.resolve("worker"); // given to task 1, which must not write anything
    Tools.Result[] r = twoTasks(chiefOut, workerOut, List.of(), "");
    chiefStatus = r[0].status();
    workerStatus = r[1].status();
    chiefLog = r[0].output();
    workerLog = r[1].output();
  }

  /** Every run of this class: the curve's config, 2 pairs per task, a checkpoint every 8 steps. */
  static final List<String> RUN = List.of("--report_to", "none", "--per_device_train_batch_size", "2",
      "--num_threads", "1", "--save_steps", "8");

  /**
   * Runs the 2 tasks of {@link #CONFIG} with {@link #RUN} and {@code extra} to their end: the chief writing
   * {@code chiefDir}, task 1 given {@code workerDir}; their logs {@code log-NAME0.txt} and {@code log-NAME1.txt}.
   */
  static Tools.Result[] twoTasks(Path chiefDir, Path workerDir, List<String> extra, String name) throws Exception {
    return Tools.twoTasks(task -> {
      List<String> args = new ArrayList<>(List.of(CONFIG.toString(), "--output_dir",
          (task == 0 ? chiefDir : workerDir).toString()));
      args.addAll(RUN);
      args.addAll(extra);
      return args;
    }, work, name, started);
  }

  static int freePort() throws Exception {
    return Tools.freePort();
  }

  @AfterAll
  static void stop() {
    started.forEach(Process::destroyForcibly);
  }

  @Test
  void twoProcessesOfTwoPairsReproduceTheOneProcessTrlCurve() throws Exception {
    assertEquals(0, chiefStatus, chiefLog);
    List<JsonObject> golden = DataParallelCurveTest.lines(DataParallelCurveTest.GOLDEN.resolve("a-sigmoid/curve.jsonl"));
    List<JsonObject> ours = DataParallelCurveTest.lines(chiefOut.resolve(DpoTrainer.METRICS_FILE));
    assertEquals(16, ours.size());
    CurveParity.assertMatches("2 processes x 2 pairs", golden, ours);
    assertTrue(chiefLog.contains("4 pairs per micro-batch (2 on each of [/job:worker/replica:0/task:0/device:CPU:0, "
        + "/job:worker/replica:0/task:1/device:CPU:0])"), chiefLog);
  }

  /**
   * The run records one replica per task: its checkpoint does not resume in one process with one device
   * (another data order), the usual resume refusal naming {@code devices}.
   */
  @Test
  void aCheckpointOfTwoTasksDoesNotResumeOnOneDevice() throws Exception {
    Path checkpoint = chiefOut.resolve("checkpoint-8");
    Tools.Result r = Tools.run(Tools.TRAIN, List.of(CONFIG.toString(), "--output_dir", chiefOut.toString(),
        "--report_to", "none", "--per_device_train_batch_size", "2", "--resume_from_checkpoint",
        checkpoint.toString()), work.resolve("log-resume.txt")).noTrace();
    assertEquals(2, r.status(), r.output());
    assertTrue(r.output().contains("devices: checkpoint [\"2\"], this run []"), r.output());
  }

  @Test
  void onlyTheChiefWritesAndTheWorkerEndsAfterIt() {
    assertEquals(0, workerStatus, workerLog);
    assertTrue(workerLog.contains("cluster: task 1 of 2 serving at"), workerLog);
    assertTrue(workerLog.contains("has gone; task 1 exits"), workerLog);
    assertFalse(Files.exists(workerOut), "task 1 created " + workerOut);
    assertTrue(Files.exists(chiefOut.resolve(DpoTrainer.METRICS_FILE)));
  }

  /**
   * A 2-task run resumed from its step-8 checkpoint by 2 tasks continues bitwise: the same metrics.jsonl
   * (every line of steps 1-16) and the same final weights as the uninterrupted run above.
   */
  @Test
  void aResumedTwoTaskRunContinuesBitwise() throws Exception {
    assertResumesBitwise("resumed", List.of());
  }

  /**
   * The same resume with {@code sharding stage1} (which may change on resume): the moments of the
   * unsharded checkpoint are restored into their owners' tasks, and the run still ends bitwise the same.
   */
  @Test
  void aResumedTwoTaskRunShardedAcrossTheTasksContinuesBitwise() throws Exception {
    assertResumesBitwise("resumed-sharded", List.of("--sharding", "stage1"));
  }

  private static void assertResumesBitwise(String name, List<String> extra) throws Exception {
    assertEquals(0, chiefStatus, chiefLog);
    Path resumed = work.resolve(name);
    ResumeTest.copyTree(chiefOut, resumed);
    for (String gone : List.of("checkpoint-16", "model.safetensors", "latest")) {
      ResumeTest.deleteTree(resumed.resolve(gone));
    }
    List<String> args = new ArrayList<>(extra);
    args.addAll(List.of("--resume_from_checkpoint", "auto"));
    Tools.Result[] r = twoTasks(resumed, work.resolve(name + "-worker"), args, name);
    assertEquals(0, r[0].status(), r[0].output());
    assertTrue(r[0].output().contains("checkpoint-8 (step 8"), r[0].output());
    assertEquals(Files.readString(chiefOut.resolve(DpoTrainer.METRICS_FILE)),
        Files.readString(resumed.resolve(DpoTrainer.METRICS_FILE)));
    org.junit.jupiter.api.Assertions.assertArrayEquals(ResumeTest.tensorBytes(chiefOut.resolve("model.safetensors")),
        ResumeTest.tensorBytes(resumed.resolve("model.safetensors")));
  }
}
