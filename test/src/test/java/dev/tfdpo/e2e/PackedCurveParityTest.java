package dev.tfdpo.e2e;


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
 * The 16-step TRL run ({@code golden/a-sigmoid}) reproduced with packing on: the shipped reproduction
 * config plus {@code --packing true --max_seq_len 384} (the longest pair is 379 tokens as one
 * {@code [prompt, chosen, rejected]} segment, so nothing is cut). Same bounds as the unpacked run
 * ({@link CurveParity}); token counts are TRL's (the prompt once per sequence), whatever the layout.
 */
class PackedCurveParityTest {

  @TempDir static Path out;
  static List<JsonObject> golden;
  static List<JsonObject> ours;

  @BeforeAll
  static void train() throws Exception {
    TrainConfig config = TrainConfig.load(TrlCurveParityTest.CONFIG, List.of("--output_dir", out.toString(),
        "--report_to", "none", "--packing", "true", "--max_seq_len", "384"));
    DpoTrainer.run(config, new PrintStream(new ByteArrayOutputStream()), false);
    golden = TrlCurveParityTest.lines(TrlCurveParityTest.GOLDEN.resolve("a-sigmoid/curve.jsonl"));
    ours = TrlCurveParityTest.lines(out.resolve(DpoTrainer.METRICS_FILE));
  }

  @Test
  void everyLoggedMetricWithinItsBound() {
    CurveParity.assertMatches("packed", golden, ours);
  }
}
