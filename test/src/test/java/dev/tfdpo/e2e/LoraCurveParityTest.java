package dev.tfdpo.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonObject;
import dev.tfdpo.io.hf.PeftAdapter;
import dev.tfdpo.trainer.DpoTrainer;
import dev.tfdpo.trainer.config.TrainConfig;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * TRL 1.13 + PEFT 0.21's LoRA DPO run ({@code golden/lora/a-lora-r4.jsonl}: r 4, alpha 8, every linear
 * projection, starting from a non-zero adapter, reference = starting policy) reproduced through the
 * shipped config {@code configs/reproduce/trl-dpo-lora-tiny.json}: the loss within 1e-4 at every step,
 * every other metric within the full fine-tuning run's bounds ({@link CurveParity}), and the written
 * PEFT adapter within 1e-5 relative L2 per tensor of TRL's trained one.
 */
class LoraCurveParityTest {

  static final Path CONFIG = TrlCurveParityTest.ROOT.resolve("configs/reproduce/trl-dpo-lora-tiny.json");
  static final Path GOLDEN = TrlCurveParityTest.GOLDEN.resolve("lora");

  /** The bound on the loss at every step. */
  static final double LOSS_TOLERANCE = 1e-4;

  /** Per tensor: |ours - TRL| <= 1e-5 * |TRL| (L2 norms), the bound. */
  static final double ADAPTER_TOLERANCE = 1e-5;

  @TempDir static Path out;
  static List<JsonObject> golden;
  static List<JsonObject> ours;

  @BeforeAll
  static void train() throws Exception {
    TrainConfig config = TrainConfig.load(CONFIG, List.of("--output_dir", out.toString(), "--report_to", "none"));
    DpoTrainer.run(config, new PrintStream(new ByteArrayOutputStream()), false);
    golden = TrlCurveParityTest.lines(GOLDEN.resolve("a-lora-r4.jsonl"));
    ours = TrlCurveParityTest.lines(out.resolve(DpoTrainer.METRICS_FILE));
  }

  @Test
  void lossWithinBoundAtEveryStep() {
    assertEquals(16, ours.size());
    double worst = 0;
    for (int i = 0; i < golden.size(); i++) {
      double diff = Math.abs(ours.get(i).get("loss").getAsDouble() - golden.get(i).get("loss").getAsDouble());
      worst = Math.max(worst, diff);
      assertTrue(diff <= LOSS_TOLERANCE, "step " + (i + 1) + ": loss differs by " + diff);
    }
    System.out.printf("lora: worst loss difference %.3e%n", worst);
  }

  @Test
  void everyLoggedMetricWithinItsBound() {
    CurveParity.assertMatches("lora", golden, ours);
  }

  @Test
  void precomputedReferenceWithTheStartingAdapterGivesTheSameRun(@TempDir Path other) throws Exception {
    List<String> overrides = List.of("--output_dir", other.resolve("run").toString(), "--report_to", "none",
        "--precompute_ref_log_probs", "true", "--ref_cache_dir", other.resolve("cache").toString());
    ByteArrayOutputStream log = new ByteArrayOutputStream();
    DpoTrainer.run(TrainConfig.load(CONFIG, overrides), new PrintStream(log), false);
    assertTrue(log.toString().contains("reference log-probs: computing"), log.toString());
    List<JsonObject> fed = TrlCurveParityTest.lines(other.resolve("run").resolve(DpoTrainer.METRICS_FILE));
    // The pass runs base + starting adapter with the training graph's pieces: bitwise the live reference
    // (every metric; run_id is each run's own fingerprint).
    assertEquals(withoutRunId(ours), withoutRunId(fed));
  }

  @Test
  void finalAdapterMatchesPeft() throws Exception {
    LoraGoldenParity.assertAdapterMatches("a-lora-r4", PeftAdapter.read(out), PeftAdapter.read(GOLDEN.resolve("a-lora-r4-final")));
  }

  private static List<JsonObject> withoutRunId(List<JsonObject> lines) {
    return lines.stream().map(l -> {
      JsonObject copy = l.deepCopy();
      copy.remove("run_id");
      return copy;
    }).toList();
  }
}
