package dev.tfdpo.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonObject;
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
 * bf16 (O1 and O2) on the shipped reproduction config {@code configs/reproduce/trl-dpo-tiny.json}: the
 * 16-step loss curve stays within a band around TRL's float32 curve that is derived from TRL's own bf16
 * run ({@code golden/a-sigmoid/curve-bf16.jsonl}).
 *
 * <p>The band. TRL's bf16 run differs from its float32 run by {@code d_k = |bf16_k - f32_k|} at step k;
 * relative to the loss, the largest of these over the 16 steps is {@link #TRL_SPREAD} (5.9%, step 11;
 * 2.0% at step 7, the largest absolute one, 0.0147). Any bf16 implementation rounds at other points than
 * torch's autocast, so its deviation from float32 is another draw of the same size, not a copy of TRL's:
 * ours may sit on either side of the float32 curve. The band is therefore {@code |ours_k - f32_k| <=
 * 2 * TRL_SPREAD * |f32_k|}: twice the worst relative spread TRL itself shows; against TRL's bf16 curve
 * the same bound plus TRL's own spread at that step, {@code d_k} (the two bf16 draws may fall on opposite
 * sides of the float32 curve: with oneDNN off, our O2 run at step 10 is 9% above float32 where TRL's
 * bf16 is 5% below). A float32 run (noise floor 3e-6) is far inside; a bf16 bug that loses the
 * float32 log-softmax or sums (errors of whole log-prob units on sums near -1000) is far outside.
 */
class Bf16CurveTest {

  static final Path ROOT = Path.of(System.getProperty("tfdpo.root", "..")).toAbsolutePath().normalize();
  static final Path CONFIG = ROOT.resolve("configs/reproduce/trl-dpo-tiny.json");
  static final Path GOLDEN = ROOT.resolve("test/fixtures/golden/a-sigmoid");

  /** max_k |bf16_k - f32_k| / |f32_k| over TRL's two 16-step curves (computed in {@link #spreadIsTrls}). */
  static final double TRL_SPREAD = 0.0592;

  @TempDir static Path outO1;
  @TempDir static Path outO2;
  static List<JsonObject> f32;
  static List<JsonObject> trlBf16;
  static List<JsonObject> o1;
  static List<JsonObject> o2;

  @BeforeAll
  static void train() throws Exception {
    f32 = TrlCurveParityTest.lines(GOLDEN.resolve("curve.jsonl"));
    trlBf16 = TrlCurveParityTest.lines(GOLDEN.resolve("curve-bf16.jsonl"));
    o1 = run(outO1, "O1");
    o2 = run(outO2, "O2");
  }

  static List<JsonObject> run(Path out, String level) throws Exception {
    TrainConfig config = TrainConfig.load(CONFIG, List.of("--output_dir", out.toString(), "--report_to", "none",
        "--bf16", "true", "--fp16_opt_level", level, "--save_strategy", "no"));
    DpoTrainer.run(config, new PrintStream(new ByteArrayOutputStream()), false);
    return TrlCurveParityTest.lines(out.resolve(DpoTrainer.METRICS_FILE));
  }

  @Test
  void spreadIsTrls() {
    double worst = 0;
    for (int k = 0; k < 16; k++) {
      double a = f32.get(k).get("loss").getAsDouble();
      double b = trlBf16.get(k).get("loss").getAsDouble();
      worst = Math.max(worst, Math.abs(b - a) / Math.abs(a));
    }
    assertEquals(TRL_SPREAD, worst, 5e-4);
  }

  @Test
  void o1LossCurveWithinTheBand() {
    assertWithinBand("O1", o1);
  }

  @Test
  void o2LossCurveWithinTheBand() {
    assertWithinBand("O2", o2);
  }

  static void assertWithinBand(String label, List<JsonObject> ours) {
    assertEquals(16, ours.size());
    StringBuilder table = new StringBuilder(label + ": step, TRL f32, TRL bf16, ours, band\n");
    boolean inside = true;
    for (int k = 0; k < 16; k++) {
      double a = f32.get(k).get("loss").getAsDouble();
      double b = trlBf16.get(k).get("loss").getAsDouble();
      double o = ours.get(k).get("loss").getAsDouble();
      double band = 2 * TRL_SPREAD * Math.abs(a);
      table.append(String.format("%2d %.6f %.6f %.6f %.6f%n", k + 1, a, b, o, band));
      // Against TRL's bf16 curve: our draw and TRL's may sit on opposite sides of the float32 curve, so
      // the distance between them is bounded by ours to float32 plus TRL's own spread at this step.
      inside &= Math.abs(o - a) <= band && Math.abs(o - b) <= band + Math.abs(b - a);
    }
    System.out.print(table);
    assertTrue(inside, "outside the band:\n" + table);
    // Step 1: policy = reference, so every pair's margin is exactly 0 in any precision; with O2 too,
    // since the policy reads the bfloat16-rounded embedding rows that the bf16-stored reference holds.
    assertEquals(Math.log(2), ours.get(0).get("loss").getAsDouble(), 1e-6);
    assertEquals(0.0, ours.get(0).get("rewards/margins").getAsDouble(), 0.0);
  }
}
