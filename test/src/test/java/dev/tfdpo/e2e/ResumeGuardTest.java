package dev.tfdpo.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tfdpo.trainer.DpoTrainer;
import dev.tfdpo.trainer.config.ConfigException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Resume refuses what it cannot honour: a changed batch size, accumulation, length or loss is refused
 * with every difference listed; a changed max_steps is allowed and the run continues to the new end.
 */
class ResumeGuardTest {

  @TempDir static Path work;
  static Path dir;

  @BeforeAll
  static void trainTwoSteps() throws Exception {
    dir = work.resolve("run");
    OutputDirLockTest.train(dir, List.of("--max_steps", "2", "--save_steps", "1"));
  }

  @Test
  void changedBatchSizeAccumulationLengthAndLossAreRefused() throws Exception {
    byte[] metrics = Files.readAllBytes(dir.resolve(DpoTrainer.METRICS_FILE));
    ConfigException e = assertThrows(ConfigException.class, () -> resume("--per_device_train_batch_size", "2",
        "--gradient_accumulation_steps", "4", "--max_seq_len", "128", "--loss_type", "ipo"));
    String m = e.getMessage();
    for (String key : List.of("per_device_train_batch_size: checkpoint 4, this run 2",
        "gradient_accumulation_steps: checkpoint 2, this run 4", "max_seq_len: checkpoint 256, this run 128",
        "loss_type: checkpoint [\"sigmoid\"], this run [\"ipo\"]")) {
      assertTrue(m.contains(key), m);
    }
    assertTrue(m.contains("max_steps, num_train_epochs, logging_steps") && m.contains("may change on resume"), m);
    assertEquals(new String(metrics), Files.readString(dir.resolve(DpoTrainer.METRICS_FILE)), "nothing was written");
  }

  @Test
  void changedMaxStepsIsAllowed() throws Exception {
    Path copy = work.resolve("longer");
    ResumeTest.copyTree(dir, copy);
    List<String> args = new ArrayList<>(List.of("--resume_from_checkpoint", "auto", "--max_steps", "3",
        "--logging_steps", "1", "--save_steps", "5"));
    String log = OutputDirLockTest.train(copy, args);
    assertTrue(log.contains("checkpoint-2 (step 2"), log);
    assertEquals(3, Files.readAllLines(copy.resolve(DpoTrainer.METRICS_FILE)).size());
  }

  static String resume(String... extra) throws Exception {
    List<String> args = new ArrayList<>(List.of("--resume_from_checkpoint", "auto"));
    args.addAll(List.of(extra));
    return OutputDirLockTest.train(dir, args);
  }
}
