package dev.tfdpo.trainer;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.google.gson.JsonObject;
import dev.tfdpo.trainer.config.TrainConfig;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The logged {@code epoch} follows Hugging Face's Trainer (micro-batches done over micro-batches per
 * epoch) in the one loop, also when the accumulation does not divide an epoch: the case where it differs
 * from optimizer steps done over steps per epoch (TRL logs 0.4 after 2 of 5 micro-batches, steps would
 * give 1/3).
 */
class EpochProgressTest {

  @TempDir Path dir;

  @Test
  void formulaCountsMicroBatches() {
    // 5 micro-batches per epoch, accumulation 2: steps end after 2, 4 and 5 micro-batches.
    assertEquals(0.4, DpoTrainer.epochProgress(0, 2, 5), 0);
    assertEquals(0.8, DpoTrainer.epochProgress(0, 4, 5), 0);
    assertEquals(1.0, DpoTrainer.epochProgress(0, 5, 5), 0);
    assertEquals(1.4, DpoTrainer.epochProgress(1, 2, 5), 0);
  }

  @Test
  void aDpoRunWhoseAccumulationDoesNotDivideAnEpochLogsHuggingFacesEpoch() throws Exception {
    List<String> pairs = Files.readAllLines(EvaluationRunTest.DATA).subList(0, 10);
    Path data = dir.resolve("ten.jsonl");
    Files.write(data, pairs);
    Path out = dir.resolve("out");
    // 10 pairs in micro-batches of 2: 5 per epoch; accumulation 2: steps of 2, 2 and 1 micro-batches.
    TrainConfig c = TrainConfig.load(null, List.of(
        "--model_name_or_path", Golden.TINY.toString(), "--output_dir", out.toString(),
        "--train_dataset_path", data.toString(), "--train_sampling_strategy", "sequential",
        "--per_device_train_batch_size", "2", "--gradient_accumulation_steps", "2", "--num_train_epochs", "2",
        "--logging_steps", "1", "--max_seq_len", "256", "--report_to", "none", "--num_threads", "2"));
    DpoTrainer.run(c, new PrintStream(new ByteArrayOutputStream()), false);
    List<JsonObject> lines = EvaluationRunTest.metrics(out);
    double[] expected = {0.4, 0.8, 1.0, 1.4, 1.8, 2.0};
    assertEquals(expected.length, lines.size(), "3 steps per epoch, 2 epochs");
    for (int i = 0; i < expected.length; i++) {
      // epoch + k / 5 in double: exact up to one rounding, far below 1e-12.
      assertEquals(expected[i], lines.get(i).get("epoch").getAsDouble(), 1e-12, "step " + (i + 1));
    }
  }
}
