package dev.tfdpo.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.tfdpo.trainer.DpoTrainer;
import dev.tfdpo.trainer.config.TrainConfig;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The 16-step TRL run ({@code golden/a-sigmoid}: 4 pairs per micro-batch, one process) reproduced by two
 * data-parallel replicas on two virtual CPU devices with 2 pairs each ({@code --devices 2
 * --per_device_train_batch_size 2}): every logged metric at every step within the one-process bounds
 * ({@link CurveParity}), so the global micro-batch, its split, the gradient all-reduce and the metric
 * reduction (pair means by pairs, token means by tokens, num_tokens summed) all match one device.
 */
class DataParallelCurveTest {

  static final Path ROOT = Path.of(System.getProperty("tfdpo.root", "..")).toAbsolutePath().normalize();
  static final Path CONFIG = ROOT.resolve("configs/reproduce/trl-dpo-tiny.json");
  static final Path GOLDEN = ROOT.resolve("test/fixtures/golden");

  @TempDir static Path out;
  static String console;

  @BeforeAll
  static void train() throws Exception {
    TrainConfig config = TrainConfig.load(CONFIG, List.of("--output_dir", out.toString(), "--report_to", "none",
        "--devices", "2", "--per_device_train_batch_size", "2"));
    ByteArrayOutputStream text = new ByteArrayOutputStream();
    DpoTrainer.run(config, new PrintStream(text), false);
    console = text.toString();
  }

  static List<JsonObject> lines(Path file) throws Exception {
    return Files.readAllLines(file).stream().filter(l -> !l.isBlank())
        .map(l -> JsonParser.parseString(l).getAsJsonObject()).toList();
  }

  @Test
  void twoReplicasOfTwoPairsReproduceTheOneProcessTrlCurve() throws Exception {
    List<JsonObject> golden = lines(GOLDEN.resolve("a-sigmoid/curve.jsonl"));
    List<JsonObject> ours = lines(out.resolve(DpoTrainer.METRICS_FILE));
    assertEquals(16, ours.size());
    CurveParity.assertMatches("2 replicas x 2 pairs", golden, ours);
  }

  @Test
  void consoleNamesTheSplit() {
    assertTrue(console.contains("4 pairs per micro-batch (2 on each of [/device:CPU:0, /device:CPU:1])"), console);
  }
}
