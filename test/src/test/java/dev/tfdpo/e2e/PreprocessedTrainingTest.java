package dev.tfdpo.e2e;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.tfdpo.data.DataOptions;
import dev.tfdpo.data.DataSummary;
import dev.tfdpo.data.PreprocessedFile;
import dev.tfdpo.data.TruncationMode;
import dev.tfdpo.io.safetensors.SafeTensorsReader;
import dev.tfdpo.trainer.DpoTrainer;
import dev.tfdpo.trainer.config.TrainConfig;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Preprocessed and raw data give identical training: {@code pref-en-64} tokenized once with the
 * {@code tiny-llama-a} tokenizer (the API behind {@code scripts/preprocess.sh}), then the same 4-step run
 * (with an evaluation) from the preprocessed file and from the raw JSON lines. Every metric that does not
 * measure wall-clock time, and every trained weight, must be bit-identical.
 */
class PreprocessedTrainingTest {

  static final Path ROOT = Path.of(System.getProperty("tfdpo.root", "..")).toAbsolutePath().normalize();
  static final Path TINY = ROOT.resolve("test/fixtures/tiny-llama-a");
  static final Path RAW = ROOT.resolve("test/fixtures/data/pref-en-64.jsonl");

  /** Metrics that measure time, not the computation. */
  static final Set<String> TIMING = Set.of("tokens_per_s", "run_id"); // and the run fingerprint: not compared

  @TempDir Path dir;

  @Test
  void preprocessedAndRawTrainIdentically() throws Exception {
    Path preprocessed = dir.resolve("pref-en-64.tfdpo");
    DataSummary summary = PreprocessedFile.write(
        DataOptions.of(RAW, TINY).withLengths(256, 0, TruncationMode.KEEP_START),
        preprocessed);
    assertEquals(64, summary.used());
    assertTrue(PreprocessedFile.isPreprocessed(preprocessed));

    Path fromFile = train(preprocessed, dir.resolve("preprocessed"));
    Path fromRaw = train(RAW, dir.resolve("raw"));

    List<JsonObject> a = lines(fromFile.resolve(DpoTrainer.METRICS_FILE));
    List<JsonObject> b = lines(fromRaw.resolve(DpoTrainer.METRICS_FILE));
    assertEquals(5, a.size(), "4 training lines and 1 evaluation line");
    assertEquals(b.size(), a.size());
    int compared = 0;
    for (int i = 0; i < a.size(); i++) {
      assertEquals(b.get(i).keySet(), a.get(i).keySet(), "keys of line " + (i + 1));
      for (Map.Entry<String, JsonElement> e : a.get(i).entrySet()) {
        if (!TIMING.contains(e.getKey())) {
          assertEquals(b.get(i).get(e.getKey()).getAsDouble(), e.getValue().getAsDouble(), 0.0,
              e.getKey() + " at line " + (i + 1));
          compared++;
        }
      }
    }
    assertTrue(a.get(4).has("eval_loss"));
    System.out.printf("preprocessed vs raw: %d values identical over %d metrics.jsonl lines%n", compared, a.size());

    try (SafeTensorsReader x = SafeTensorsReader.open(fromFile); SafeTensorsReader y = SafeTensorsReader.open(fromRaw)) {
      assertEquals(y.names(), x.names());
      for (String name : x.names()) {
        assertArrayEquals(y.readFloats(name), x.readFloats(name), 0f, name);
      }
    }
  }

  static Path train(Path data, Path out) throws Exception {
    TrainConfig config = TrainConfig.load(null, List.of(
        "--model_name_or_path", TINY.toString(),
        "--train_dataset_path", data.toString(),
        "--dev_dataset_path", data.toString(),
        "--evaluation_strategy", "steps", "--eval_steps", "4", "--per_device_eval_batch_size", "16",
        "--output_dir", out.toString(),
        "--per_device_train_batch_size", "2", "--gradient_accumulation_steps", "2", "--max_steps", "4",
        "--learning_rate", "5e-4", "--max_seq_len", "256", "--train_sampling_strategy", "sequential",
        "--num_threads", "2", "--report_to", "none"));
    DpoTrainer.run(config, new PrintStream(new ByteArrayOutputStream()), false);
    return out;
  }

  static List<JsonObject> lines(Path file) throws Exception {
    List<JsonObject> out = new ArrayList<>();
    for (String l : Files.readAllLines(file)) {
      if (!l.isBlank()) {
        out.add(JsonParser.parseString(l).getAsJsonObject());
      }
    }
    return out;
  }
}
