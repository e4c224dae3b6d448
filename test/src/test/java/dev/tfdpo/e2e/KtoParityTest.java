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
import java.util.Map;
import java.util.TreeMap;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * KTO against TRL 1.13's KTOTrainer: {@code configs/trainers/kto-tiny.json} (fixture a,
 * unpaired-en-96, 4 rows per micro-batch, accumulation 2, lr 5e-4, warmup 2, linear, beta 0.1,
 * max_length 256, sequential, 16 steps) against {@code test/fixtures/golden/kto/a-kto.jsonl}.
 */
class KtoParityTest {

  static final Path ROOT = ReferenceRunTest.ROOT;
  static final Path GOLDEN = ROOT.resolve("test/fixtures/golden/kto/a-kto.jsonl");

  @TempDir static Path tmp;
  static String log;
  static List<JsonObject> ours;

  @BeforeAll
  static void train() throws Exception {
    Path out = tmp.resolve("kto");
    ByteArrayOutputStream console = new ByteArrayOutputStream();
    DpoTrainer.run(TrainConfig.load(ROOT.resolve("configs/trainers/kto-tiny.json"),
        List.of("--output_dir", out.toString(), "--report_to", "none")),
        new PrintStream(console, true, StandardCharsets.UTF_8), false);
    log = console.toString(StandardCharsets.UTF_8);
    ours = ReferenceRunTest.lines(out);
  }

  static List<JsonObject> golden() throws Exception {
    List<JsonObject> out = new ArrayList<>();
    for (String l : Files.readAllLines(GOLDEN)) {
      if (!l.isBlank()) {
        out.add(JsonParser.parseString(l).getAsJsonObject());
      }
    }
    return out;
  }

  /**
   * Bounds per metric, {@code |ours - TRL| <= abs + rel * |TRL|}. The loss: the 1e-4. The others
   * as in {@link CurveParity}: the largest difference measured (padded, oneDNN on, AMD EPYC) times 3-5,
   * rounded up. KTO's rewards and kl are beta-scaled or plain means over 1-4 rows of differences of two
   * per-sequence sums near -1000 (one float32 ulp of such a sum is 6.1e-5), so they sit at a few ulps.
   */
  static final Map<String, CurveParity.Bound> BOUNDS = Map.ofEntries(
      Map.entry("loss", new CurveParity.Bound(1e-4, 0)), // measured 1.9e-6
      Map.entry("grad_norm", new CurveParity.Bound(0, 5e-5)), // measured 5.7e-6 on ~6 (1e-6 relative)
      Map.entry("learning_rate", new CurveParity.Bound(0, 0)),
      Map.entry("num_tokens", new CurveParity.Bound(0, 0)),
      Map.entry("epoch", new CurveParity.Bound(0, 0)),
      Map.entry("kl", new CurveParity.Bound(2.5e-4, 0)), // measured 6.1e-5: one ulp of a sum near -1000
      Map.entry("entropy", new CurveParity.Bound(0, 4e-7)), // measured 7.2e-7 on ~6.4 (1.1e-7 relative)
      Map.entry("logits/chosen", new CurveParity.Bound(5e-8, 0)), // measured 1.1e-8
      Map.entry("logits/rejected", new CurveParity.Bound(5e-8, 0)), // measured 1.1e-8
      Map.entry("rewards/chosen", new CurveParity.Bound(1e-4, 0)), // measured 6.1e-6
      Map.entry("rewards/rejected", new CurveParity.Bound(1e-4, 0)), // measured 2.4e-5
      Map.entry("rewards/margins", new CurveParity.Bound(1e-4, 0)), // measured 2.0e-5
      Map.entry("logps/chosen", new CurveParity.Bound(0, 5e-7)), // measured 8.1e-5 on ~900 (9e-8 relative)
      Map.entry("logps/rejected", new CurveParity.Bound(0, 5e-7))); // measured 1.2e-4 on ~1000 (1.2e-7)

  /** Line keys that are not metrics: the step, and the run's fingerprint tfdpo adds to each line. */
  static final java.util.Set<String> NOT_METRICS = java.util.Set.of("step", "run_id");

  @Test
  void everyMetricOfEveryStepMatchesTrl() throws Exception {
    assertMatchesTrl("a-kto.jsonl", golden(), ours);
  }

  /**
   * Every TRL metric of every step within its {@link #BOUNDS}, and no metric TRL lacks; prints the largest
   * difference per metric.
   */
  static void assertMatchesTrl(String file, List<JsonObject> golden, List<JsonObject> ours) {
    assertEquals(golden.size(), ours.size(), "steps");
    List<String> failures = new ArrayList<>();
    Map<String, Double> worst = new TreeMap<>();
    for (int i = 0; i < golden.size(); i++) {
      JsonObject g = golden.get(i);
      JsonObject o = ours.get(i);
      for (String key : g.keySet()) {
        if (key.equals("step")) {
          continue;
        }
        CurveParity.Bound bound = BOUNDS.get(key);
        assertTrue(bound != null, "no bound for TRL's metric " + key);
        if (!o.has(key)) {
          failures.add("step " + (i + 1) + ": " + key + " missing");
          continue;
        }
        double trl = g.get(key).getAsDouble();
        double us = o.get(key).getAsDouble();
        worst.merge(key, Math.abs(us - trl), Math::max);
        if (!bound.holds(trl, us)) {
          failures.add("step " + (i + 1) + ": " + key + " " + us + " vs TRL " + trl);
        }
      }
      for (String key : o.keySet()) {
        if (!NOT_METRICS.contains(key) && !g.has(key)) {
          failures.add("step " + (i + 1) + ": " + key + " is not one of TRL's metrics");
        }
      }
    }
    System.out.println(file + " vs TRL, max |ours - TRL| per metric: " + worst);
    assertTrue(failures.isEmpty(), String.join("\n", failures));
  }

  @Test
  void startUpSaysWhatIsTrained() {
    assertTrue(log.contains("96 rows") || log.contains("used 96"), log);
    assertTrue(log.contains("4 rows per micro-batch"), log);
    assertTrue(log.contains("reference: the starting weights of"), log);
  }
}
