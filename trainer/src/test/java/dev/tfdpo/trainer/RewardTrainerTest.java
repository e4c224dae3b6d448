package dev.tfdpo.trainer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.tfdpo.data.RewardPairs;
import dev.tfdpo.graphs.training.RewardGraph;
import dev.tfdpo.io.hf.LlamaConfig;
import dev.tfdpo.io.safetensors.SafeTensorsReader;
import dev.tfdpo.ops.AdamW;
import dev.tfdpo.tokenizer.Tokenizer;
import dev.tfdpo.tokenizer.Tokenizers;
import dev.tfdpo.trainer.config.ConfigException;
import dev.tfdpo.trainer.config.TrainConfig;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code rlhf_type rm} through the trainer's entry point: the shipped config reproduces TRL's
 * RewardTrainer curve and writes a sequence-classification model; a run from a causal-LM checkpoint
 * starts a new head and evaluates on a dev set; options the reward trainer does not read are refused.
 */
class RewardTrainerTest {

  static final Path CONFIG = Golden.ROOT.resolve("configs/trainers/rm-tiny.json");

  @TempDir
  Path tmp;

  static List<JsonObject> lines(Path metrics) throws Exception {
    List<JsonObject> out = new ArrayList<>();
    for (String l : Files.readAllLines(metrics)) {
      out.add(JsonParser.parseString(l).getAsJsonObject());
    }
    return out;
  }

  @Test
  void shippedConfigReproducesTrlsRewardTrainer() throws Exception {
    Path out = tmp.resolve("rm");
    TrainConfig config = TrainConfig.load(CONFIG,
        List.of("--output_dir", out.toString(), "--report_to", "none", "--num_threads", "2"));
    DpoTrainer.run(config, new PrintStream(new ByteArrayOutputStream()), false);
    List<JsonObject> ours = lines(out.resolve(DpoTrainer.METRICS_FILE));
    List<JsonObject> trl = lines(Golden.GOLDEN.resolve("reward/a-reward.jsonl"));
    assertEquals(16, ours.size());
    for (int s = 0; s < 16; s++) {
      // Loss: the 1e-4 (RewardCurveGoldenTest measures 1.25e-6 on the same run); metric names and
      // their averaging are TRL's, so every logged key compares directly.
      assertEquals(trl.get(s).get("loss").getAsDouble(), ours.get(s).get("loss").getAsDouble(), 1e-4, "loss " + s);
      for (String k : List.of("accuracy", "min_reward", "mean_reward", "max_reward", "margin")) {
        assertEquals(trl.get(s).get(k).getAsDouble(), ours.get(s).get(k).getAsDouble(), 5e-5, k + " " + s);
      }
      assertEquals(trl.get(s).get("num_tokens").getAsDouble(), ours.get(s).get("num_tokens").getAsDouble(), 0);
      assertEquals(trl.get(s).get("epoch").getAsDouble(), ours.get(s).get("epoch").getAsDouble(), 1e-9);
    }
    JsonObject written = JsonParser.parseString(Files.readString(out.resolve("config.json"))).getAsJsonObject();
    assertEquals("LlamaForSequenceClassification", written.getAsJsonArray("architectures").get(0).getAsString());
    try (SafeTensorsReader want = SafeTensorsReader.open(Golden.GOLDEN.resolve("reward/a-rm-final"));
        SafeTensorsReader got = SafeTensorsReader.open(out)) {
      assertEquals(want.names(), got.names());
      for (String name : want.names()) {
        float[] a = want.readFloats(name);
        float[] b = got.readFloats(name);
        for (int i = 0; i < a.length; i++) {
          // As RewardCurveGoldenTest: an Adam direction flipped by rounding moves a weight by up to lr per step.
          assertEquals(a[i], b[i], 1e-4, name + "[" + i + "]");
        }
      }
    }
  }

  /**
   * TRL on inputs the shared goldens do not cover ({@code golden/reward/b-reward.jsonl}, made by
   * {@code make_b_reward.py} beside it): Chinese pairs with a margin column, center_rewards_coefficient
   * 0.05, max_length 240 so that TRL's filter drops 14 of 32 pairs, 18 pairs in micro-batches of 4 with
   * accumulation 2, so each epoch ends with a step of one two-pair micro-batch; 6 steps = 2 epochs.
   */
  @Test
  void marginCenteringDroppedPairsAndShortStepsFollowTrl() throws Exception {
    Path out = tmp.resolve("rm-b");
    TrainConfig config = TrainConfig.load(CONFIG, List.of("--output_dir", out.toString(), "--report_to", "none",
        "--train_dataset_path", "test/fixtures/data/pref-zh-32-margin.jsonl", "--max_length", "240",
        "--center_rewards_coefficient", "0.05", "--max_steps", "6", "--num_threads", "2"));
    DpoTrainer.run(config, new PrintStream(new ByteArrayOutputStream()), false);
    List<JsonObject> ours = lines(out.resolve(DpoTrainer.METRICS_FILE));
    List<JsonObject> trl = lines(Golden.GOLDEN.resolve("reward/b-reward.jsonl"));
    assertEquals(6, ours.size());
    double worstLoss = 0;
    for (int s = 0; s < 6; s++) {
      worstLoss = Math.max(worstLoss,
          Math.abs(trl.get(s).get("loss").getAsDouble() - ours.get(s).get("loss").getAsDouble()));
    }
    System.out.printf("b-reward (margin, centering, dropped pairs) vs TRL: max |dloss| %.3g%n", worstLoss);
    for (int s = 0; s < 6; s++) {
      JsonObject g = trl.get(s);
      JsonObject o = ours.get(s);
      // Bounds as for the shared golden above (loss: the 1e-4; rewards 5e-5; grad_norm 3e-4).
      assertEquals(g.get("loss").getAsDouble(), o.get("loss").getAsDouble(), 1e-4, "loss " + s);
      for (String k : List.of("accuracy", "min_reward", "mean_reward", "max_reward", "margin")) {
        assertEquals(g.get(k).getAsDouble(), o.get(k).getAsDouble(), 5e-5, k + " " + s);
      }
      assertEquals(g.get("grad_norm").getAsDouble(), o.get("grad_norm").getAsDouble(), 3e-4, "grad_norm " + s);
      assertEquals(g.get("num_tokens").getAsDouble(), o.get("num_tokens").getAsDouble(), 0, "num_tokens " + s);
      assertEquals(g.get("epoch").getAsDouble(), o.get("epoch").getAsDouble(), 1e-9, "epoch " + s);
    }
  }

  @Test
  void causalLmStartGetsASeededHeadAndDevAccuracyIsReported() throws Exception {
    Path out = tmp.resolve("rm-from-lm");
    String dev = Golden.FIXTURES.resolve("data/pref-en-64.jsonl").toString();
    TrainConfig config = TrainConfig.load(CONFIG, List.of("--output_dir", out.toString(), "--report_to", "none",
        "--model_name_or_path", Golden.TINY.toString(), "--max_steps", "2", "--dev_dataset_path", dev,
        "--evaluation_strategy", "steps", "--eval_steps", "2", "--per_device_eval_batch_size", "16",
        "--center_rewards_coefficient", "0.01", "--num_threads", "2"));
    DpoTrainer.run(config, new PrintStream(new ByteArrayOutputStream()), false);
    List<JsonObject> lines = lines(out.resolve(DpoTrainer.METRICS_FILE));
    assertEquals(3, lines.size(), "two training lines and one evaluation line");
    JsonObject eval = lines.get(2);
    assertEquals(2, eval.get("step").getAsInt());
    double accuracy = eval.get("eval_accuracy").getAsDouble();
    assertTrue(accuracy >= 0 && accuracy <= 1);

    // The evaluation is the written model's: the same dev set through a fresh graph loaded from output_dir.
    // Both are forward passes of the same weights and batches: equal up to float sums' order, 1e-6.
    RewardPairs.Loaded devSet;
    try (Tokenizer tok = Tokenizers.load(Golden.TINY, null)) {
      devSet = RewardPairs.load(Path.of(dev), tok, 256);
    }
    try (RewardGraph graph = RewardGraph.build(new RewardGraph.Settings(LlamaConfig.read(out), 0.01,
            new AdamW.Hyper(0.9f, 0.999f, 1e-8f), 1.0, 2));
        SafeTensorsReader weights = SafeTensorsReader.open(out)) {
      assertTrue(graph.load(weights, 0.02, 0), "the output holds the trained head");
      RewardObjective.Data data = new RewardObjective.Data(devSet, devSet, 2);
      Map<String, Double> again = new Evaluator(Evaluator.forward(graph, data.examples(devSet)),
          RewardObjective.ACCURACY, "acc", "pairs", 16, "steps", 1).evaluate();
      assertEquals(again.get("eval_accuracy"), accuracy, 1e-9);
      assertEquals(again.get("eval_loss"), eval.get("eval_loss").getAsDouble(), 1e-6);
    }
  }

  @Test
  void resumingACheckpointEndsWithTheUninterruptedRunsMetricsAndModel() throws Exception {
    PrintStream quiet = new PrintStream(new ByteArrayOutputStream());
    Path straight = tmp.resolve("straight");
    DpoTrainer.run(TrainConfig.load(CONFIG, List.of("--output_dir", straight.toString(), "--report_to", "none",
        "--max_steps", "8", "--logging_steps", "2", "--num_threads", "2")), quiet, false);
    Path resumed = tmp.resolve("resumed");
    List<String> args = List.of("--output_dir", resumed.toString(), "--report_to", "none", "--max_steps", "8",
        "--logging_steps", "2", "--num_threads", "2", "--save_strategy", "steps", "--save_steps", "3");
    DpoTrainer.run(TrainConfig.load(CONFIG, args), quiet, false);
    assertTrue(Files.isDirectory(resumed.resolve("checkpoint-3")) && Files.isDirectory(resumed.resolve("checkpoint-6")));
    // As if the run had died after step 5: continue from step 3, mid-epoch and mid-logging-interval.
    for (String gone : List.of("checkpoint-6", "checkpoint-8")) {
      dev.tfdpo.io.DurableFiles.deleteRecursively(resumed.resolve(gone));
    }
    List<String> again = new ArrayList<>(args);
    again.addAll(List.of("--resume_from_checkpoint", resumed.resolve("checkpoint-3").toString()));
    DpoTrainer.run(TrainConfig.load(CONFIG, again), quiet, false);
    // Byte for byte but for each line's run_id (two runs, two fingerprints; the resumed one keeps its own).
    assertEquals(withoutRunId(straight), withoutRunId(resumed), "metrics.jsonl");
    try (SafeTensorsReader a = SafeTensorsReader.open(straight.resolve("model.safetensors"));
        SafeTensorsReader b = SafeTensorsReader.open(resumed.resolve("model.safetensors"))) {
      for (String name : a.names()) {
        org.junit.jupiter.api.Assertions.assertArrayEquals(a.readFloats(name), b.readFloats(name), name);
      }
    }
  }

  static String withoutRunId(Path dir) throws Exception {
    return Files.readString(dir.resolve(DpoTrainer.METRICS_FILE)).replaceAll(",\"run_id\":\"[^\"]*\"", "");
  }

  @Test
  void aNewHeadIsSeededNormalWithTheInitializerRange() {
    float[] a = RewardGraph.seededHead(4096, 0.2, 42);
    assertEquals(java.util.Arrays.toString(a), java.util.Arrays.toString(RewardGraph.seededHead(4096, 0.2, 42)));
    assertTrue(a[0] != RewardGraph.seededHead(4096, 0.2, 43)[0], "another seed, another draw");
    double sum = 0;
    double squares = 0;
    for (float v : a) {
      sum += v;
      squares += (double) v * v;
    }
    double mean = sum / a.length;
    double std = Math.sqrt(squares / a.length - mean * mean);
    // N(0, 0.2^2) over 4096 draws: the sample mean has sd 0.2/64 = 0.003, the sample sd has sd
    // 0.2/sqrt(2 * 4096) = 0.0022; bounds of about 5 of those.
    assertEquals(0, mean, 0.016);
    assertEquals(0.2, std, 0.011);
  }

  /**
   * The one loop's non-finite guard serves the reward model too: a step whose loss or gradient is not
   * finite stops the run before its update, and the previous step's state is kept as a checkpoint whose
   * model is the objective's format (a sequence-classification directory with its head).
   */
  @Test
  void aNonFiniteStepKeepsTheLastGoodRewardModel() throws Exception {
    Path out = tmp.resolve("diverged");
    // Learning rate 1e30: Adam's first update moves every weight by about lr, so the next forward overflows.
    TrainConfig config = TrainConfig.load(CONFIG, List.of("--output_dir", out.toString(), "--report_to", "none",
        "--learning_rate", "1e30", "--max_steps", "6", "--save_strategy", "steps", "--save_steps", "100",
        "--num_threads", "2"));
    NonFiniteStepException e = assertThrows(NonFiniteStepException.class,
        () -> DpoTrainer.run(config, new PrintStream(new ByteArrayOutputStream()), false));
    assertTrue(e.step() >= 2, "step 1 starts from finite weights: " + e.getMessage());
    Path kept = out.resolve("checkpoint-" + (e.step() - 1));
    assertTrue(e.getMessage().endsWith("saved in " + kept + " (resume or export from there)"), e.getMessage());
    assertTrue(Files.readString(kept.resolve("config.json")).contains("LlamaForSequenceClassification"));
    try (SafeTensorsReader weights = SafeTensorsReader.open(kept)) {
      assertTrue(weights.contains(RewardGraph.SCORE), "the kept model has its head");
    }
  }

  @Test
  void optionsOfOtherTrainersAndUnsupportedOnesAreRefused() throws Exception {
    ConfigException loss = assertThrows(ConfigException.class,
        () -> TrainConfig.load(CONFIG, List.of("--loss_type", "ipo")));
    assertTrue(loss.getMessage().contains("'loss_type' belongs to"), loss.getMessage());
    ConfigException packing = assertThrows(ConfigException.class,
        () -> TrainConfig.load(CONFIG, List.of("--packing", "true")));
    assertTrue(packing.getMessage().contains("'packing' belongs to"), packing.getMessage());
    TrainConfig xla = TrainConfig.load(CONFIG, List.of("--use_xla", "true", "--output_dir", tmp.resolve("x").toString()));
    ConfigException e = assertThrows(ConfigException.class,
        () -> DpoTrainer.run(xla, new PrintStream(new ByteArrayOutputStream()), false));
    assertTrue(e.getMessage().contains("use_xla is not implemented for rlhf_type rm"), e.getMessage());
    assertTrue(!Files.exists(tmp.resolve("x")), "refused before anything is written");
    TrainConfig lora = TrainConfig.load(CONFIG, List.of("--lora", "true", "--output_dir", tmp.resolve("l").toString()));
    ConfigException l = assertThrows(ConfigException.class,
        () -> DpoTrainer.run(lora, new PrintStream(new ByteArrayOutputStream()), false));
    assertTrue(l.getMessage().contains("lora is not implemented for rlhf_type rm"), l.getMessage());
    assertTrue(!Files.exists(tmp.resolve("l")), "refused before anything is written");
    DpoTrainer.run(TrainConfig.load(CONFIG, List.of("--output_dir", tmp.resolve("y").toString(), "--max_steps", "1",
        "--report_to", "none", "--center_rewards_coefficient", "0.5")), new PrintStream(new ByteArrayOutputStream()), false);
    TrainConfig rm = TrainConfig.load(CONFIG, List.of("--center_rewards_coefficient", "0.25"));
    Path saved = tmp.resolve("resolved.json");
    rm.save(saved);
    assertEquals(rm, TrainConfig.load(saved, List.of()), "a saved rm config (every key listed) loads back");
    ConfigException center = assertThrows(ConfigException.class, () -> TrainConfig.load(
        Golden.ROOT.resolve("configs/default.json"), List.of("--center_rewards_coefficient", "0.5")));
    assertTrue(center.getMessage().contains("belongs to the rm trainer"), center.getMessage());
  }
}
