package dev.tfdpo.e2e;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/** Runs the project's command-line tools in child JVMs, as the scripts do, and captures what they print. */
final class Tools {

  static final Path ROOT = TrlCurveParityTest.ROOT;
  static final String TRAIN = "dev.tfdpo.trainer.TrainMain";
  static final String EXPORT = "dev.tfdpo.export.ExportMain";
  static final String PREPROCESS = "dev.tfdpo.trainer.PreprocessTool";

  /** What a finished tool left: its exit status and its stdout and stderr together. */
  record Result(int status, String output) {
    /** No user-caused error may reach the JVM's default handler. */
    Result noTrace() {
      assertFalse(output.contains("Exception in thread"), output);
      assertFalse(output.contains("\tat dev.tfdpo"), output);
      return this;
    }
  }

  private Tools() {}

  /** Starts {@code mainClass} with {@code args}; its output goes to {@code log}. */
  static Process start(String mainClass, List<String> args, Path log, Map<String, String> env) throws IOException {
    List<String> command = new ArrayList<>();
    command.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
    command.add("-Dtfdpo.root=" + ROOT);
    command.addAll(List.of("-cp", System.getProperty("java.class.path"), mainClass));
    command.addAll(args);
    Files.createDirectories(log.getParent());
    ProcessBuilder pb = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(log.toFile());
    pb.environment().put("TF_CPP_MIN_LOG_LEVEL", "2");
    pb.environment().putAll(env);
    return pb.start();
  }

  /** Runs {@code mainClass} to its end (at most 5 minutes). */
  static Result run(String mainClass, List<String> args, Path log) throws Exception {
    Process p = start(mainClass, args, log, Map.of());
    assertTrue(p.waitFor(300, TimeUnit.SECONDS), "the tool did not end");
    return new Result(p.exitValue(), Files.readString(log, StandardCharsets.UTF_8));
  }

  /**
   * Runs the trainer as the 2 tasks of a loopback {@code TF_CONFIG} cluster to their end: task k with
   * {@code argsOf.apply(k)}, its log {@code logDir/log-NAMEk.txt}; each started process is added to {@code
   * started} (for the caller's cleanup). The worker ends a few probes (1 s each) after the chief.
   */
  static Result[] twoTasks(java.util.function.IntFunction<List<String>> argsOf, Path logDir, String name,
      List<Process> started) throws Exception {
    String workers = "[\"127.0.0.1:" + freePort() + "\", \"127.0.0.1:" + freePort() + "\"]";
    List<Process> p = new ArrayList<>();
    for (int task = 0; task < 2; task++) {
      p.add(start(TRAIN, argsOf.apply(task), logDir.resolve("log-" + name + task + ".txt"), Map.of("TF_CONFIG",
          "{\"cluster\": {\"worker\": " + workers + "}, \"task\": {\"type\": \"worker\", \"index\": " + task + "}}")));
      started.add(p.get(task));
    }
    assertTrue(p.get(0).waitFor(300, TimeUnit.SECONDS), "the chief did not end");
    assertTrue(p.get(1).waitFor(30, TimeUnit.SECONDS), "the worker did not end after the chief");
    Result[] r = new Result[2];
    for (int task = 0; task < 2; task++) {
      r[task] = new Result(p.get(task).exitValue(), Files.readString(logDir.resolve("log-" + name + task + ".txt")));
    }
    return r;
  }

  /** A free local port (bound, then released for a server to take). */
  static int freePort() throws IOException {
    try (java.net.ServerSocket s = new java.net.ServerSocket(0)) {
      return s.getLocalPort();
    }
  }

  /** The default config with {@code extra} overrides, for a child trainer. */
  static List<String> trainArgs(Path outputDir, List<String> extra) {
    List<String> args = new ArrayList<>();
    args.add(ROOT.resolve("configs/default.json").toString());
    args.addAll(List.of("--output_dir", outputDir.toString(), "--report_to", "none", "--num_threads", "2"));
    args.addAll(extra);
    return args;
  }
}
