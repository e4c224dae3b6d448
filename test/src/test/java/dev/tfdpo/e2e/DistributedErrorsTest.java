package dev.tfdpo.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * What a user gets wrong when starting several processes is one clear line, never a hang: a bad
 * {@code TF_CONFIG}, a port already taken, a worker that never starts.
 */
class DistributedErrorsTest {

  @TempDir Path work;

  private Tools.Result chief(String tfConfig, List<String> extra) throws Exception {
    List<String> args = new java.util.ArrayList<>(Tools.trainArgs(work.resolve("out"), List.of("--max_steps", "1")));
    args.addAll(extra);
    Process p = Tools.start(Tools.TRAIN, args, work.resolve("log.txt"), Map.of("TF_CONFIG", tfConfig));
    assertTrue(p.waitFor(120, TimeUnit.SECONDS), "the chief did not end");
    return new Tools.Result(p.exitValue(), Files.readString(work.resolve("log.txt"))).noTrace();
  }

  private static String tfConfig(int... ports) {
    return taskConfig(0, ports);
  }

  private static String taskConfig(int task, int... ports) {
    StringBuilder w = new StringBuilder();
    for (int port : ports) {
      w.append(w.length() == 0 ? "" : ", ").append("\"127.0.0.1:").append(port).append('"');
    }
    return "{\"cluster\": {\"worker\": [" + w + "]}, \"task\": {\"type\": \"worker\", \"index\": " + task + "}}";
  }

  private static int freePort() throws Exception {
    try (ServerSocket s = new ServerSocket(0)) {
      return s.getLocalPort();
    }
  }

  @Test
  void aBadTfConfigIsAnInputError() throws Exception {
    Tools.Result r = chief("{\"cluster\": {\"worker\": [\"127.0.0.1:1\"]}, \"task\": {\"type\": \"worker\", \"index\": 3}}",
        List.of());
    assertEquals(2, r.status(), r.output());
    assertTrue(r.output().contains("error: TF_CONFIG task.index 3 is not one of the 1 workers"), r.output());
  }

  @Test
  void aWorkerThatNeverStartsFailsTheChiefWithinTheTimeout() throws Exception {
    int missing = freePort();
    long start = System.nanoTime();
    Tools.Result r = chief(tfConfig(freePort(), missing), List.of("--collective_timeout_s", "2"));
    double seconds = (System.nanoTime() - start) / 1e9;
    assertEquals(1, r.status(), r.output());
    assertTrue(r.output().contains("error: task 1 at 127.0.0.1:" + missing + " did not answer within 2.0 s"),
        r.output());
    assertTrue(seconds < 60, seconds + " s");
    assertTrue(!Files.exists(work.resolve("out/metrics.jsonl")));
  }

  @Test
  void aPortInUseNamesTheAddress() throws Exception {
    try (ServerSocket taken = new ServerSocket(0)) {
      Tools.Result r = chief(tfConfig(taken.getLocalPort(), freePort()), List.of());
      assertTrue(r.status() != 0, r.output());
      assertTrue(r.output().contains("cannot start the TensorFlow server of task 0 at 127.0.0.1:"
          + taken.getLocalPort() + " (is the port in use?)"), r.output());
    }
  }

  @Test
  void aWorkerWithAnotherConfigIsRefusedBeforeStepOne() throws Exception {
    int[] ports = {freePort(), freePort()};
    // Task 1 differs in beta (math) and in output_dir and num_threads (its own: allowed).
    List<String> workerArgs = new java.util.ArrayList<>(Tools.trainArgs(work.resolve("worker-out"),
        List.of("--max_steps", "1", "--beta", "0.25", "--num_threads", "1", "--collective_timeout_s", "30")));
    Process worker = Tools.start(Tools.TRAIN, workerArgs, work.resolve("worker.txt"),
        Map.of("TF_CONFIG", taskConfig(1, ports)));
    try {
      Tools.Result r = chief(taskConfig(0, ports), List.of("--collective_timeout_s", "30"));
      assertEquals(2, r.status(), r.output());
      assertTrue(r.output().contains("error: worker task 1's config differs from the chief's (1 key(s)):\n"
          + "  beta: chief 0.1, task 1 0.25\n"), r.output());
      assertTrue(!Files.exists(work.resolve("out/metrics.jsonl")));
      // The worker ends on its own once the chief has gone.
      assertTrue(worker.waitFor(60, TimeUnit.SECONDS), "the worker did not end");
      assertEquals(0, worker.exitValue(), Files.readString(work.resolve("worker.txt")));
    } finally {
      worker.destroyForcibly();
    }
  }
}
