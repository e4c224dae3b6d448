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

  /** The default config with {@code extra} overrides, for a child trainer. */
  static List<String> trainArgs(Path outputDir, List<String> extra) {
    List<String> args = new ArrayList<>();
    args.add(ROOT.resolve("configs/default.json").toString());
    args.addAll(List.of("--output_dir", outputDir.toString(), "--report_to", "none", "--num_threads", "2"));
    args.addAll(extra);
    return args;
  }
}
