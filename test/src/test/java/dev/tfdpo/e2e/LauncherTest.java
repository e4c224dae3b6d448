package dev.tfdpo.e2e;

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
 * The local launcher of {@code scripts/train.sh --nproc_per_node N} ({@code tfdpo_launch} in
 * {@code scripts/lib.sh}), with the JVM replaced by a small shell function so that only the launcher is
 * under test: each worker's TF_CONFIG, the "[rank k] " prefixes, and that one failing worker stops the
 * others and gives its status. The real workers run in {@link DistributedCurveTest}.
 */
class LauncherTest {

  @TempDir Path work;

  /** Runs {@code body} after sourcing lib.sh with the build and the JVM replaced by {@code fakeJava}. */
  private Tools.Result bash(String fakeJava, String body, Map<String, String> env) throws Exception {
    String script = "set -euo pipefail; source '" + Tools.ROOT.resolve("scripts/lib.sh") + "'\n"
        + "tfdpo_build() { :; }\n"
        + "tfdpo_java() {\n" + fakeJava + "\n}\n" + body;
    ProcessBuilder pb = new ProcessBuilder("bash", "-c", script).redirectErrorStream(true)
        .redirectOutput(work.resolve("out.txt").toFile());
    pb.environment().putAll(env);
    Process p = pb.start();
    assertTrue(p.waitFor(60, TimeUnit.SECONDS), "the launcher did not end");
    return new Tools.Result(p.exitValue(), Files.readString(work.resolve("out.txt")));
  }

  @Test
  void everyWorkerGetsItsTfConfigAndItsPrefix() throws Exception {
    Tools.Result r = bash("echo \"main $1 config $TF_CONFIG\"", "tfdpo_launch 3 Main", Map.of());
    assertEquals(0, r.status(), r.output());
    String workers = r.output().replaceAll("(?s).*launching 3 workers: (\\[[^\\n]*\\]).*", "$1");
    assertTrue(workers.matches("\\[\"127\\.0\\.0\\.1:\\d+\",\"127\\.0\\.0\\.1:\\d+\",\"127\\.0\\.0\\.1:\\d+\"\\]"),
        r.output());
    for (int k = 0; k < 3; k++) {
      assertTrue(r.output().contains("[rank " + k + "] main Main config {\"cluster\": {\"worker\": " + workers
          + "}, \"task\": {\"type\": \"worker\", \"index\": " + k + "}}"), r.output());
    }
  }

  @Test
  void aFailingWorkerStopsTheOthersWithItsStatus() throws Exception {
    Path pidFile = work.resolve("rank0.pid");
    // Rank 1 dies once rank 0 runs its long child (so the kill has something to reach).
    String fake = "case \"$TF_CONFIG\" in *'\"index\": 1}}') while [ ! -s '" + pidFile + "' ]; do sleep 0.1; done; "
        + "echo dying; exit 3 ;; esac\n"
        + "sleep 120 & echo $! > '" + pidFile + "'; wait";
    long start = System.nanoTime();
    Tools.Result r = bash(fake, "tfdpo_launch 2 Main", Map.of());
    double seconds = (System.nanoTime() - start) / 1e9;
    assertEquals(3, r.status(), r.output());
    assertTrue(seconds < 30, seconds + " s");
    assertTrue(r.output().contains("[rank 1] dying"), r.output());
    assertTrue(r.output().contains("error: rank 1 exited with status 3; stopping the other workers"), r.output());
    long pid = Long.parseLong(Files.readString(pidFile).trim());
    Thread.sleep(500);
    assertFalse(running(pid), "rank 0's child still runs");
  }

  @Test
  void aFailedWorkerRestartsAllWorkersWithResumeAuto() throws Exception {
    Path out = work.resolve("run");
    // Rank 1 fails on the first start only; every start prints its arguments.
    String fake = "echo \"start $TFDPO_RESTART_COUNT args $*\"\n"
        + "case \"$TF_CONFIG\" in *'\"index\": 1}}') [ \"$TFDPO_RESTART_COUNT\" = 0 ] && exit 3 ;; esac\n"
        + "mkdir -p '" + out + "'; echo x > '" + out + "/metrics.jsonl'; exit 0";
    Tools.Result r = bash(fake, "tfdpo_launch_restarting 2 2 Main cfg.json --output_dir '" + out
        + "' --resume_from_checkpoint old", Map.of());
    assertEquals(0, r.status(), r.output());
    assertTrue(r.output().contains("error: rank 1 exited with status 3; stopping the other workers"), r.output());
    assertTrue(r.output().contains("restart 1/2 after rank 1 exited with status 3"), r.output());
    assertTrue(r.output().contains("restart 1/2: no checkpoint in " + out), r.output());
    assertTrue(r.output().contains("training starts over"), r.output());
    for (int k = 0; k < 2; k++) {
      assertTrue(r.output().contains("[rank " + k + "] start 1 args Main cfg.json --output_dir " + out
          + " --resume_from_checkpoint auto --overwrite_output_dir true"), r.output());
    }
    assertFalse(r.output().contains("restart 2/2"), r.output());
  }

  @Test
  void restartsResumeFromACheckpointAndEndAfterMaxRestarts() throws Exception {
    Path out = work.resolve("run");
    Files.createDirectories(out.resolve("checkpoint-2"));
    String fake = "echo \"start $TFDPO_RESTART_COUNT args $*\"\n"
        + "case \"$TF_CONFIG\" in *'\"index\": 1}}') exit 4 ;; esac";
    Tools.Result r = bash(fake, "tfdpo_launch_restarting 2 2 Main cfg.json --output_dir '" + out + "'", Map.of());
    assertEquals(4, r.status(), r.output());
    assertTrue(r.output().contains("restart 2/2 after rank 1 exited with status 4"), r.output());
    assertTrue(r.output().contains("restart 1/2: resuming from the last checkpoint in " + out), r.output());
    assertTrue(r.output().contains("[rank 0] start 2 args Main cfg.json --output_dir " + out
        + " --resume_from_checkpoint auto\n"), r.output());
    assertTrue(r.output().contains("error: rank 1 exited with status 4 after 2 restarts; giving up"), r.output());
  }

  @Test
  void aConfigErrorOrAnOldOutputDirIsNotRestarted() throws Exception {
    Tools.Result bad = bash("echo started; exit 2", "tfdpo_launch_restarting 3 2 Main cfg.json", Map.of());
    assertEquals(2, bad.status(), bad.output());
    assertFalse(bad.output().contains("restart"), bad.output());
    Path out = work.resolve("old");
    Files.createDirectories(out);
    Files.writeString(out.resolve("metrics.jsonl"), "an older run\n");
    Tools.Result old = bash("exit 1", "tfdpo_launch_restarting 3 2 Main cfg.json --output_dir '" + out + "'",
        Map.of());
    assertEquals(1, old.status(), old.output());
    assertTrue(old.output().contains("error: no checkpoint in " + out + " to resume from, and it held files"),
        old.output());
  }

  /**
   * Whether {@code pid} runs: a killed child whose parent died is reparented to pid 1, which in a
   * container may never reap it, so a zombie ({@code Z} in /proc) counts as ended.
   */
  private static boolean running(long pid) throws Exception {
    Path stat = Path.of("/proc/" + pid + "/stat");
    if (!Files.exists(stat)) {
      return ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false);
    }
    String s = Files.readString(stat);
    return !s.substring(s.lastIndexOf(')') + 2).startsWith("Z");
  }

  @Test
  void trainShRefusesBadCounts() throws Exception {
    for (String bad : new String[] {"0", "two", "-1"}) {
      ProcessBuilder pb = new ProcessBuilder("bash", Tools.ROOT.resolve("scripts/train.sh").toString(),
          "--nproc_per_node", bad).redirectErrorStream(true);
      Process p = pb.start();
      String out = new String(p.getInputStream().readAllBytes());
      assertTrue(p.waitFor(30, TimeUnit.SECONDS));
      assertEquals(2, p.exitValue(), out);
      assertTrue(out.contains("--nproc_per_node must be a positive integer, got '" + bad + "'"), out);
    }
    ProcessBuilder pb = new ProcessBuilder("bash", Tools.ROOT.resolve("scripts/train.sh").toString(),
        "--nproc_per_node", "2").redirectErrorStream(true);
    pb.environment().put("TF_CONFIG", "{}");
    Process p = pb.start();
    String out = new String(p.getInputStream().readAllBytes());
    assertTrue(p.waitFor(30, TimeUnit.SECONDS));
    assertEquals(2, p.exitValue(), out);
    assertTrue(out.contains("--nproc_per_node with TF_CONFIG set"), out);
    for (String[] bad : new String[][] {{"--max_restarts", "x", "--nproc_per_node", "2"}, {"--max_restarts", "1"}}) {
      List<String> command = new java.util.ArrayList<>(List.of("bash", Tools.ROOT.resolve("scripts/train.sh").toString()));
      command.addAll(List.of(bad));
      Process q = new ProcessBuilder(command).redirectErrorStream(true).start();
      String o = new String(q.getInputStream().readAllBytes());
      assertTrue(q.waitFor(30, TimeUnit.SECONDS));
      assertEquals(2, q.exitValue(), o);
      assertTrue(o.contains(bad.length == 4 ? "--max_restarts must be a non-negative integer, got 'x'"
          : "--max_restarts restarts the workers of --nproc_per_node N"), o);
    }
  }
}
