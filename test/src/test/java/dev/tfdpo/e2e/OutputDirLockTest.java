package dev.tfdpo.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tfdpo.io.OutputDirLock;
import dev.tfdpo.trainer.DpoTrainer;
import dev.tfdpo.trainer.config.TrainConfig;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * One owner per output directory: while a trainer runs, a second trainer, an export and a preprocess
 * into its directory are refused at once, naming the holder's PID; after the holder is killed with
 * SIGKILL its lock record is reclaimed with a message, and the next run trains.
 */
class OutputDirLockTest {

  @TempDir Path work;

  @Test
  void aSecondWriterIsRefusedAndADeadHoldersLockIsReclaimed() throws Exception {
    Path dir = work.resolve("run");
    Process first = Tools.start(Tools.TRAIN, Tools.trainArgs(dir, List.of("--max_steps", "400", "--save_steps", "1000")),
        work.resolve("first.log"), Map.of());
    Path lockFile = dir.resolve(OutputDirLock.FILE);
    ResumeTest.waitFor(first, () -> Files.exists(lockFile) && Files.readString(lockFile).contains("pid=" + first.pid()));
    try {
      String pid = "PID " + first.pid();
      Tools.Result second = Tools.run(Tools.TRAIN, Tools.trainArgs(dir, List.of()), work.resolve("second.log"))
          .noTrace();
      assertEquals(2, second.status(), second.output());
      assertTrue(second.output().contains("is in use by train (" + pid), second.output());

      Tools.Result export = Tools.run(Tools.EXPORT,
          List.of(Tools.ROOT.resolve("test/fixtures/tiny-llama-a").toString(), dir.toString(), "--format", "hf",
              "--overwrite"), work.resolve("export.log")).noTrace();
      assertEquals(2, export.status(), export.output());
      assertTrue(export.output().contains(pid), export.output());

      Tools.Result preprocess = Tools.run(Tools.PREPROCESS,
          List.of("--input", "test/fixtures/data/pref-en-64.jsonl", "--output", dir.resolve("data.tfdpo").toString(),
              "--model_name_or_path", "test/fixtures/tiny-llama-a"), work.resolve("preprocess.log")).noTrace();
      assertEquals(2, preprocess.status(), preprocess.output());
      assertTrue(preprocess.output().contains(pid), preprocess.output());

      // In the same JVM as well (the trainer as a library).
      IOException inProcess = assertThrows(IOException.class, () -> train(dir, List.of()));
      assertTrue(inProcess.getMessage().contains(pid), inProcess.getMessage());
    } finally {
      first.destroyForcibly().waitFor(60, TimeUnit.SECONDS);
    }
    assertTrue(Files.readString(lockFile).contains("pid=" + first.pid()), "SIGKILL leaves the record behind");
    String log = train(dir, List.of("--max_steps", "1", "--overwrite_output_dir", "true"));
    assertTrue(log.contains("reclaimed the lock of " + dir + " left by train (PID " + first.pid()), log);
    assertFalse(Files.exists(lockFile), "a finished run leaves no lock file behind");
    assertFalse(Files.exists(dir.resolve("data.tfdpo")));
  }

  static String train(Path dir, List<String> extra) throws Exception {
    List<String> args = new java.util.ArrayList<>(List.of("--output_dir", dir.toString(), "--report_to", "none",
        "--num_threads", "2"));
    args.addAll(extra);
    TrainConfig config = TrainConfig.load(Tools.ROOT.resolve("configs/default.json"), args);
    ByteArrayOutputStream log = new ByteArrayOutputStream();
    DpoTrainer.run(config, new PrintStream(log, true, StandardCharsets.UTF_8), false);
    return log.toString(StandardCharsets.UTF_8);
  }
}
