package dev.tfdpo.e2e;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A worker that dies mid-training, with real worker JVMs under the launcher of {@code scripts/train.sh
 * --nproc_per_node 2} ({@code tfdpo_launch_restarting} in {@code scripts/lib.sh}, the build replaced by this
 * test's classpath): rank 1 ends with status 3 as soon as the chief has written {@code checkpoint-2}, on its
 * first start only ({@code TFDPO_FAULT_EXIT_WHEN}). With {@code --max_restarts 1} the launcher restarts both
 * workers from the last checkpoint and the run ends with the weights of an uninterrupted run, bitwise (as
 * resume is); with {@code --max_restarts 0} it stops naming rank 1.
 */
class RestartTest {

  private static final List<String> RUN = List.of("--per_device_train_batch_size", "2", "--max_steps", "12",
      "--save_steps", "2", "--report_to", "none", "--num_threads", "1");

  @TempDir Path work;

  /** Where the uninterrupted run of every test is kept, made once. */
  @TempDir static Path shared;

  /** Runs the launcher with {@code maxRestarts}, rank 1 failing once checkpoint-2 exists. */
  private Tools.Result launch(int maxRestarts, Path out) throws Exception {
    return launch(maxRestarts, out, Map.of("TFDPO_FAULT_EXIT_WHEN", out.resolve("checkpoint-2").toString()),
        List.of("--collective_timeout_s", "30"));
  }

  /** Seconds from checkpoint-2's appearance to the launcher's end, set by {@link #launch}. */
  private double afterFault;

  /** Runs the launcher with {@code maxRestarts}, the fault hooks in {@code faults}, {@code extra} options. */
  private Tools.Result launch(int maxRestarts, Path out, Map<String, String> faults, List<String> extra)
      throws Exception {
    String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
    String script = "set -euo pipefail; source '" + Tools.ROOT.resolve("scripts/lib.sh") + "'\n"
        + "tfdpo_build() { :; }\n"
        + "tfdpo_java() { local main=\"$1\"; shift; exec '" + java + "' -Dtfdpo.root='" + Tools.ROOT
        + "' -cp \"$TEST_CP\" \"$main\" \"$@\"; }\n"
        + "tfdpo_launch_restarting " + maxRestarts + " 2 " + Tools.TRAIN + " '"
        + Tools.ROOT.resolve("configs/default.json") + "' --output_dir '" + out + "' "
        + String.join(" ", RUN) + " " + String.join(" ", extra);
    Path log = work.resolve("launcher-" + maxRestarts + ".txt");
    ProcessBuilder pb = new ProcessBuilder("bash", "-c", script).redirectErrorStream(true)
        .redirectOutput(log.toFile());
    pb.environment().put("TEST_CP", System.getProperty("java.class.path"));
    pb.environment().put("TF_CPP_MIN_LOG_LEVEL", "2");
    pb.environment().putAll(faults);
    Process p = pb.start();
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(300);
    long fault = 0;
    while (p.isAlive() && System.nanoTime() < deadline) {
      if (fault == 0 && Files.exists(out.resolve("checkpoint-2"))) {
        fault = System.nanoTime();
      }
      Thread.sleep(100);
    }
    assertTrue(p.waitFor(1, TimeUnit.SECONDS), "the launcher did not end");
    afterFault = fault == 0 ? -1 : (System.nanoTime() - fault) / 1e9;
    return new Tools.Result(p.exitValue(), Files.readString(log));
  }

  /** The final weights of the same 12 steps without a fault, as 2 in-process replicas (made once). */
  private static synchronized byte[] uninterrupted() throws Exception {
    Path whole = shared.resolve("uninterrupted");
    if (!Files.exists(whole.resolve("model.safetensors"))) {
      // Two tasks cut the data as two in-process replicas (docs/distributed.md, DistributedGraphTest: bitwise).
      List<String> args = new java.util.ArrayList<>(List.of(Tools.ROOT.resolve("configs/default.json").toString(),
          "--output_dir", whole.toString(), "--devices", "2"));
      args.addAll(RUN);
      Tools.Result u = Tools.run(Tools.TRAIN, args, shared.resolve("uninterrupted.txt"));
      assertEquals(0, u.status(), u.output());
    }
    return ResumeTest.tensorBytes(whole.resolve("model.safetensors"));
  }

  @Test
  void aRestartFromTheLastCheckpointEndsWithTheUninterruptedWeights() throws Exception {
    Path out = work.resolve("restarted");
    Tools.Result r = launch(1, out);
    assertEquals(0, r.status(), r.output());
    assertTrue(r.output().contains("[rank 1] cluster: TFDPO_FAULT_EXIT_WHEN"), r.output());
    // Status 3 as a rule; the JVM's native exit can crash while TensorFlow's gRPC threads run (seen once:
    // 134), which is a worker failure all the same.
    assertTrue(r.output().matches("(?s).*restart 1/1 after rank 1 exited with status [1-9][0-9]*\\b.*"), r.output());
    assertTrue(r.output().contains("restart 1/1: resuming from the last checkpoint in " + out), r.output());
    assertTrue(r.output().contains("[rank 0] resume: from " + out.resolve("checkpoint-")), r.output());
    assertArrayEquals(uninterrupted(), ResumeTest.tensorBytes(out.resolve("model.safetensors")));
  }

  /** The collective timeout of the hang tests: the hang is named within about twice this. */
  private static final List<String> HANG = List.of("--collective_timeout_s", "8");

  /**
   * The hang bound (docs/distributed.md, "Faults"): a probe every collective_timeout_s, answered within
   * collective_timeout_s, so at most 2 x 8 s after the stop; plus the hook's 1 s poll, the launcher's 0.5 s
   * poll and the test's, and the JVMs' exit, on 2 shared loaded cores: 35 s. (8 s rather than less: the
   * same timeout bounds each collective, which must not expire in a healthy step on loaded cores.)
   */
  private static final double HANG_BOUND_S = 35;

  @Test
  void aStoppedWorkerEndsTheRunWithinTheBoundNamingIt() throws Exception {
    Path out = work.resolve("hung");
    Tools.Result r = launch(0, out, Map.of("TFDPO_FAULT_STOP_WHEN", out.resolve("checkpoint-2").toString()), HANG);
    assertEquals(4, r.status(), r.output());
    assertTrue(r.output().contains("[rank 1] cluster: TFDPO_FAULT_STOP_WHEN"), r.output());
    assertTrue(r.output().matches("(?s).*\\[rank 0\\] error: worker task 1 \\(127\\.0\\.0\\.1:[0-9]+\\) did not answer "
        + "within 8\\.0 s \\(collective_timeout_s\\): it is hung or stopped; stopping \\(status 4\\).*"), r.output());
    assertTrue(r.output().contains("error: rank 0 exited with status 4 (another task did not answer its probes: hung "
        + "or stopped; its error line names it); stopping the other workers"), r.output());
    assertFalse(Files.exists(out.resolve("model.safetensors")), "the run did not stop");
    assertTrue(afterFault > 0 && afterFault < HANG_BOUND_S, afterFault + " s after the stop");
    System.out.printf("stopped worker: the launcher ended %.1f s after checkpoint-2%n", afterFault);
  }

  @Test
  void aStoppedWorkerIsRestartedAndTheRunEndsWithTheUninterruptedWeights() throws Exception {
    Path out = work.resolve("hung-restarted");
    Tools.Result r = launch(1, out, Map.of("TFDPO_FAULT_STOP_WHEN", out.resolve("checkpoint-2").toString()), HANG);
    assertEquals(0, r.status(), r.output());
    assertTrue(r.output().contains("error: worker task 1 (127.0.0.1:"), r.output());
    assertTrue(r.output().contains("restart 1/1 after rank 0 exited with status 4"), r.output());
    assertTrue(r.output().contains("[rank 0] resume: from " + out.resolve("checkpoint-")), r.output());
    assertArrayEquals(uninterrupted(), ResumeTest.tensorBytes(out.resolve("model.safetensors")));
  }

  @Test
  void aStoppedChiefEndsItsWorkerWithinTheBound() throws Exception {
    Path out = work.resolve("hung-chief");
    Tools.Result r = launch(0, out, Map.of("TFDPO_FAULT_STOP_WHEN", out.resolve("checkpoint-2").toString(),
        "TFDPO_FAULT_TASK", "0"), HANG);
    assertEquals(4, r.status(), r.output());
    assertTrue(r.output().contains("[rank 0] cluster: TFDPO_FAULT_STOP_WHEN"), r.output());
    assertTrue(r.output().contains("[rank 1] error: the chief, task 0 (127.0.0.1:"), r.output());
    assertTrue(r.output().contains("error: rank 1 exited with status 4 (another task did not answer its probes"), r.output());
    assertTrue(afterFault > 0 && afterFault < HANG_BOUND_S, afterFault + " s after the stop");
    System.out.printf("stopped chief: the launcher ended %.1f s after checkpoint-2%n", afterFault);
  }

  @Test
  void withoutRestartsAKilledWorkerEndsTheRunNamingIt() throws Exception {
    Path out = work.resolve("failed");
    long start = System.nanoTime();
    Tools.Result r = launch(0, out);
    double seconds = (System.nanoTime() - start) / 1e9;
    assertEquals(3, r.status(), r.output());
    assertTrue(r.output().matches("(?s).*error: rank 1 exited with status [1-9][0-9]*; stopping the other workers.*"),
        r.output());
    assertFalse(r.output().contains("restart"), r.output());
    assertFalse(Files.exists(out.resolve("model.safetensors")), "the run did not stop");
    assertTrue(seconds < 240, seconds + " s");
  }
}
