package dev.tfdpo.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.tfdpo.trainer.DpoTrainer;
import dev.tfdpo.trainer.config.TrainConfig;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * KTO through the loop beyond the golden run: the weighted losses of both loss types put together by
 * hand from the logged metrics, packed against padded batches, precomputed against live reference
 * log-probs (KL rows included).
 */
class KtoRunTest {

  static final Path ROOT = ReferenceRunTest.ROOT;
  static final Path CONFIG = ROOT.resolve("configs/trainers/kto-tiny.json");

  @TempDir static Path tmp;
  static Path alternating;
  static final AtomicInteger RUNS = new AtomicInteger();

  /** unpaired-en-96 reordered desirable, undesirable, desirable, ...: each 2-row micro-batch has one of each. */
  @BeforeAll
  static void data() throws Exception {
    List<String> yes = new ArrayList<>();
    List<String> no = new ArrayList<>();
    for (String l : Files.readAllLines(ROOT.resolve("test/fixtures/data/unpaired-en-96.jsonl"))) {
      if (!l.isBlank()) {
        (JsonParser.parseString(l).getAsJsonObject().get("label").getAsBoolean() ? yes : no).add(l);
      }
    }
    List<String> rows = new ArrayList<>();
    for (int i = 0; i < Math.min(yes.size(), no.size()); i++) {
      rows.add(yes.get(i));
      rows.add(no.get(i));
    }
    alternating = tmp.resolve("alternating.jsonl");
    Files.write(alternating, rows);
  }

  static ReferenceRunTest.Run train(String... overrides) throws Exception {
    Path out = tmp.resolve("run-" + RUNS.incrementAndGet());
    List<String> args = new ArrayList<>(List.of("--output_dir", out.toString(), "--report_to", "none"));
    if (!List.of(overrides).contains("--save_strategy")) {
      args.addAll(List.of("--save_strategy", "no"));
    }
    args.addAll(List.of(overrides));
    ByteArrayOutputStream log = new ByteArrayOutputStream();
    DpoTrainer.run(TrainConfig.load(CONFIG, args), new PrintStream(log, true, StandardCharsets.UTF_8), false);
    return new ReferenceRunTest.Run(log.toString(StandardCharsets.UTF_8), ReferenceRunTest.lines(out), out);
  }

  static double sigmoid(double x) {
    return 1 / (1 + Math.exp(-x));
  }

  /** float32 sigmoids and means of 2 rows, compared in double: a few ulps of 1. */
  static final double HAND_TOLERANCE = 2e-6;

  /**
   * Two rows per micro-batch, one desirable (reward c = rewards/chosen) and one undesirable (reward
   * r = rewards/rejected), one micro-batch per logged step, warm-up off so rewards move from step 2:
   * kto: loss = (dw (1 - s(c - b z)) + uw (1 - s(b z - r))) / 2 with z = kl;
   * apo_zero_unpaired: loss = (dw (1 - s(c)) + uw s(r)) / 2.
   */
  @Test
  void weightedLossesPutTogetherByHand() throws Exception {
    double dw = 1.5;
    double uw = 0.7;
    double beta = 0.1;
    for (String lossType : List.of("kto", "apo_zero_unpaired")) {
      ReferenceRunTest.Run run = train("--train_dataset_path", alternating.toString(), "--loss_type", lossType,
          "--per_device_train_batch_size", "2", "--gradient_accumulation_steps", "1", "--warmup_steps", "0",
          "--max_steps", "4", "--desirable_weight", String.valueOf(dw), "--undesirable_weight", String.valueOf(uw));
      boolean moved = false;
      for (JsonObject line : run.lines()) {
        double c = line.get("rewards/chosen").getAsDouble();
        double r = line.get("rewards/rejected").getAsDouble();
        double z = line.get("kl").getAsDouble();
        double expected = lossType.equals("kto")
            ? (dw * (1 - sigmoid(c - beta * z)) + uw * (1 - sigmoid(beta * z - r))) / 2
            : (dw * (1 - sigmoid(c)) + uw * sigmoid(r)) / 2;
        assertEquals(expected, line.get("loss").getAsDouble(), HAND_TOLERANCE, lossType + " " + line);
        assertEquals(c - r, line.get("rewards/margins").getAsDouble(), 1e-6);
        if (lossType.equals("apo_zero_unpaired")) {
          assertEquals(0.0, z, 0.0, "apo_zero_unpaired has no KL term");
        }
        moved |= Math.abs(c) > 1e-3;
      }
      assertTrue(moved, lossType + ": the rewards moved, so the check is not only at 0");
    }
  }

  /** Packed and padded batches hold the same sequences: the same curve up to float32 summation order. */
  @Test
  void packedBatchesGiveThePaddedCurve() throws Exception {
    ReferenceRunTest.Run padded = train("--max_steps", "4", "--max_seq_len", "1024");
    ReferenceRunTest.Run packed = train("--max_steps", "4", "--max_seq_len", "1024", "--packing", "true");
    assertCurvesClose(padded, packed);
  }

  /** The KL rows' reference log-probs are cached with the rows': the live curve. */
  @Test
  void precomputedReferenceGivesTheLiveCurve() throws Exception {
    ReferenceRunTest.Run live = train("--max_steps", "4");
    ReferenceRunTest.Run fed = train("--max_steps", "4", "--precompute_ref_log_probs", "true",
        "--ref_cache_dir", tmp.resolve("cache").toString());
    assertTrue(fed.log().contains("reference log-probs: computing for 96"), fed.log());
    assertCurvesClose(live, fed);
  }

  /**
   * Data parallel, 2 replicas x 2 rows (the KL point and the metric merge themselves: KtoDataParallelTest
   * in trainer): the reference precomputed and fed shard by shard, and packed shards, give the live padded
   * curve, and a dev set of 2 x 3 rows per global batch is evaluated on both replicas.
   */
  @Test
  void twoReplicasPrecomputedGivesLiveWithEvaluation() throws Exception {
    List<String> common = List.of("--max_steps", "3", "--devices", "2", "--per_device_train_batch_size", "2");
    List<String> evaluated = new ArrayList<>(common);
    evaluated.addAll(List.of("--evaluation_strategy", "steps", "--eval_steps", "3", "--dev_dataset_path",
        alternating.toString(), "--per_device_eval_batch_size", "3"));
    ReferenceRunTest.Run live = train(evaluated.toArray(String[]::new));
    List<String> precomputed = new ArrayList<>(common);
    precomputed.addAll(List.of("--precompute_ref_log_probs", "true", "--ref_cache_dir", tmp.resolve("cache-dp").toString()));
    ReferenceRunTest.Run fed = train(precomputed.toArray(String[]::new));
    assertTrue(live.log().contains("(2 on each of [/device:CPU:0, /device:CPU:1])"), live.log());
    assertTrue(live.log().contains("eval at step 3 | eval_loss"), live.log());
    assertTrue(live.lines().stream().anyMatch(l -> l.has("eval_kl") && l.has("eval_rewards/margins")),
        live.lines().toString());
    List<JsonObject> train = new ArrayList<>();
    for (JsonObject l : live.lines()) {
      JsonObject t = l.deepCopy();
      l.keySet().stream().filter(k -> k.startsWith("eval_")).forEach(t::remove);
      if (t.has("loss")) {
        train.add(t);
      }
    }
    assertEquals(3, train.size());
    assertCurvesClose(new ReferenceRunTest.Run(live.log(), train, live.dir()), fed);
    List<String> packed = new ArrayList<>(common);
    packed.addAll(List.of("--packing", "true", "--max_seq_len", "1024"));
    List<String> padded = new ArrayList<>(common);
    padded.addAll(List.of("--max_seq_len", "1024")); // the same KL rows' cut as the packed run
    assertCurvesClose(train(padded.toArray(String[]::new)), train(packed.toArray(String[]::new)));
    for (JsonObject l : train) {
      assertTrue(l.get("kl").getAsDouble() >= 0 && Double.isFinite(l.get("loss").getAsDouble()), l.toString());
    }
  }

  /**
   * Resume and evaluation: a run logging every 3 steps, evaluating every 2 on a dev set and saving every
   * 2 steps, resumed from checkpoint-2 (mid-interval, so the per-metric micro-batch counts of the
   * interval come from the checkpoint), writes the uninterrupted run's metrics.jsonl byte for byte.
   */
  @Test
  void resumedRunWritesTheSameMetricsWithEvaluation() throws Exception {
    String[] args = {"--max_steps", "5", "--logging_steps", "3", "--save_strategy", "steps", "--save_steps", "2",
        "--evaluation_strategy", "steps", "--eval_steps", "2", "--dev_dataset_path", alternating.toString(),
        "--per_device_eval_batch_size", "8"};
    ReferenceRunTest.Run whole = train(args);
    List<String> lines = Files.readAllLines(whole.dir().resolve(DpoTrainer.METRICS_FILE));
    assertTrue(lines.stream().anyMatch(l -> l.contains("\"eval_loss\"") && l.contains("\"eval_kl\"")
        && l.contains("\"eval_rewards/margins\"")), String.join("\n", lines));
    assertTrue(whole.log().contains("eval at step 2 | eval_loss"), whole.log());
    List<String> resumedArgs = new ArrayList<>(List.of(args));
    resumedArgs.addAll(List.of("--resume_from_checkpoint", whole.dir().resolve("checkpoint-2").toString()));
    ReferenceRunTest.Run resumed = train(resumedArgs.toArray(String[]::new));
    assertTrue(resumed.log().contains("continuing after step 2"), resumed.log());
    assertEquals(lines, Files.readAllLines(resumed.dir().resolve(DpoTrainer.METRICS_FILE)));
  }

  /**
   * Every metric of every step within {@link KtoParityTest#BOUNDS}: two layouts or two reference paths
   * differ only in float32 summation order, the same source of differences as against TRL.
   */
  static void assertCurvesClose(ReferenceRunTest.Run a, ReferenceRunTest.Run b) {
    assertEquals(a.lines().size(), b.lines().size());
    for (int i = 0; i < a.lines().size(); i++) {
      JsonObject x = a.lines().get(i);
      JsonObject y = b.lines().get(i);
      assertEquals(x.keySet(), y.keySet());
      for (String k : x.keySet()) {
        if (KtoParityTest.NOT_METRICS.contains(k)) {
          continue;
        }
        double u = x.get(k).getAsDouble();
        double v = y.get(k).getAsDouble();
        assertTrue(KtoParityTest.BOUNDS.get(k).holds(u, v), "step " + (i + 1) + " " + k + ": " + u + " vs " + v);
      }
    }
  }
}
