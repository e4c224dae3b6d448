package dev.tfdpo.trainer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.tfdpo.report.TensorBoardReader;
import dev.tfdpo.trainer.config.TrainConfig;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.NavigableMap;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Evaluation inside real training runs: when the {@code eval_} lines come, what they hold, where they
 * go (metrics.jsonl, TensorBoard, dev_data_summary.json), and that an evaluation after step k on the
 * pairs of step k+1 reports exactly the metrics training logs for step k+1 (same weights, same batch).
 */
class EvaluationRunTest {

  static final Path DATA = Golden.FIXTURES.resolve("data/pref-en-64.jsonl");

  @TempDir Path dir;

  Path lines(String name, int from, int to) throws Exception {
    List<String> all = Files.readAllLines(DATA);
    Path f = dir.resolve(name);
    Files.write(f, all.subList(from, to));
    return f;
  }

  static List<JsonObject> metrics(Path outputDir) throws Exception {
    List<JsonObject> out = new ArrayList<>();
    for (String l : Files.readAllLines(outputDir.resolve(DpoTrainer.METRICS_FILE))) {
      out.add(JsonParser.parseString(l).getAsJsonObject());
    }
    return out;
  }

  static String shape(List<JsonObject> lines) {
    StringBuilder s = new StringBuilder();
    for (JsonObject o : lines) {
      s.append(o.get("step").getAsInt()).append(o.has("eval_loss") ? "e " : " ");
    }
    return s.toString().trim();
  }

  TrainConfig config(Path out, String... extra) throws Exception {
    List<String> args = new ArrayList<>(List.of(
        "--model_name_or_path", Golden.TINY.toString(),
        "--output_dir", out.toString(),
        "--train_sampling_strategy", "sequential",
        "--learning_rate", "5e-4",
        "--max_seq_len", "256",
        "--num_threads", "2"));
    args.addAll(List.of(extra));
    return TrainConfig.load(null, args);
  }

  @Test
  void stepsStrategyMatchesTheNextTrainingStep() throws Exception {
    Path out = dir.resolve("steps");
    // Batches of 2 in file order: step 3 trains on pairs 4 and 5, which are the dev set.
    TrainConfig c = config(out,
        "--train_dataset_path", DATA.toString(),
        "--dev_dataset_path", lines("dev.jsonl", 4, 6).toString(),
        "--eval_strategy", "steps", "--eval_steps", "2", "--per_device_eval_batch_size", "2",
        "--per_device_train_batch_size", "2", "--max_steps", "4", "--logging_steps", "1",
        "--report_to", "tensorboard");
    ByteArrayOutputStream console = new ByteArrayOutputStream();
    DpoTrainer.run(c, new PrintStream(console), false);
    List<JsonObject> m = metrics(out);
    assertEquals("1 2 2e 3 4 4e", shape(m));

    JsonObject evalAt2 = m.get(2);
    JsonObject trainAt3 = m.get(3);
    assertEquals(2, evalAt2.get("step").getAsInt());
    int compared = 0;
    for (String key : trainAt3.keySet()) {
      if (evalAt2.has("eval_" + key) && !key.equals("num_tokens")) {
        assertEquals(trainAt3.get(key).getAsDouble(), evalAt2.get("eval_" + key).getAsDouble(), 1e-7, key);
        compared++;
      }
    }
    assertEquals(12, compared, "loss, rewards x4, logps x2, logits x2, entropy, token accuracy, sigmoid_loss");
    assertEquals(m.get(1).get("epoch").getAsDouble(), evalAt2.get("epoch").getAsDouble(), 0.0);
    assertEquals(m.get(1).get("num_tokens").getAsDouble(), evalAt2.get("eval_num_tokens").getAsDouble(), 0.0);
    assertFalse(evalAt2.has("loss"), "an eval line holds eval metrics only");

    Map<String, NavigableMap<Long, Double>> board = TensorBoardReader.readScalars(out.resolve("runs"));
    assertEquals(List.of(2L, 4L), new ArrayList<>(board.get("eval/loss").keySet()));
    assertEquals(evalAt2.get("eval_loss").getAsDouble(), board.get("eval/loss").get(2L), 1e-6);
    assertTrue(board.containsKey("eval/rewards/margins"));

    JsonObject summary = JsonParser.parseString(
        Files.readString(out.resolve(Evaluator.SUMMARY_FILE))).getAsJsonObject();
    assertEquals(2, summary.get("rows_read").getAsInt());
    String text = console.toString();
    assertTrue(text.contains("dev data: "), text);
    assertTrue(text.contains("eval at step 2 | eval_loss"), text);
  }

  @Test
  void epochStrategyEvaluatesAtEveryEpochEndIncludingACutShortOne() throws Exception {
    Path out = dir.resolve("epoch");
    Path eight = lines("train8.jsonl", 0, 8);
    // 8 pairs in batches of 4: 2 steps per epoch; 1.5 epochs = 3 steps, the last epoch cut after 1.
    TrainConfig c = config(out,
        "--train_dataset_path", eight.toString(),
        "--dev_dataset_path", lines("dev.jsonl", 8, 13).toString(),
        "--evaluation_strategy", "epoch", "--per_device_eval_batch_size", "2",
        "--per_device_train_batch_size", "4", "--num_train_epochs", "1.5", "--logging_steps", "1",
        "--report_to", "none");
    DpoTrainer.run(c, new PrintStream(new ByteArrayOutputStream()), false);
    List<JsonObject> m = metrics(out);
    assertEquals("1 2 2e 3 3e", shape(m));
    assertEquals(1.0, m.get(2).get("epoch").getAsDouble(), 1e-12);
    assertEquals(1.5, m.get(4).get("epoch").getAsDouble(), 1e-12);
    assertTrue(m.get(4).get("eval_loss").getAsDouble() != m.get(2).get("eval_loss").getAsDouble());
  }

  @Test
  void evalStepsDefaultsToLoggingSteps() throws Exception {
    Path out = dir.resolve("default-interval");
    TrainConfig c = config(out,
        "--train_dataset_path", lines("train8.jsonl", 0, 8).toString(),
        "--dev_dataset_path", lines("dev.jsonl", 8, 10).toString(),
        "--evaluation_strategy", "steps",
        "--per_device_train_batch_size", "2", "--max_steps", "4", "--logging_steps", "2",
        "--learning_rate", "0", "--report_to", "none");
    DpoTrainer.run(c, new PrintStream(new ByteArrayOutputStream()), false);
    List<JsonObject> m = metrics(out);
    assertEquals("2 2e 4 4e", shape(m));
    // Learning rate 0: the policy stays the reference, so rewards are 0 and the sigmoid loss is ln 2.
    assertEquals(Math.log(2), m.get(1).get("eval_loss").getAsDouble(), 1e-7);
    assertEquals(0.0, m.get(3).get("eval_rewards/margins").getAsDouble(), 0.0);
  }
}
