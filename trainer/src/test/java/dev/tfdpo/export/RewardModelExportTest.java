package dev.tfdpo.export;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.tfdpo.data.RewardPairs;
import dev.tfdpo.graphs.Tensors;
import dev.tfdpo.graphs.training.RewardBatch;
import dev.tfdpo.graphs.training.RewardGraph;
import dev.tfdpo.io.hf.HfExport;
import dev.tfdpo.io.hf.LlamaConfig;
import dev.tfdpo.io.hf.RewardModelExport;
import dev.tfdpo.io.safetensors.SafeTensorsReader;
import dev.tfdpo.ops.AdamW;
import dev.tfdpo.tokenizer.Tokenizer;
import dev.tfdpo.tokenizer.Tokenizers;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.tensorflow.Result;
import org.tensorflow.SavedModelBundle;
import org.tensorflow.types.TInt32;

/**
 * A trained reward model (TRL's {@code a-rm-final}) through the trainer's reward graph, the Hugging Face
 * sequence-classification writer and the SavedModel: the written weights equal the loaded ones bitwise,
 * the config is what transformers' {@code AutoModelForSequenceClassification} reads, and the SavedModel's
 * {@code score} signature gives the training graph's rewards.
 */
class RewardModelExportTest {

  static final Path ROOT = Path.of(System.getProperty("tfdpo.root", ".")).toAbsolutePath();
  static final Path FINAL = ROOT.resolve("test/fixtures/golden/reward/a-rm-final");
  static final Path INIT = ROOT.resolve("test/fixtures/golden/reward/a-rm-init");
  static final Path TINY = ROOT.resolve("test/fixtures/tiny-llama-a");

  @TempDir
  Path tmp;

  @Test
  void trainedRewardModelRoundTripsThroughHuggingFaceAndSavedModel() throws Exception {
    RewardPairs.Loaded data;
    try (Tokenizer tok = Tokenizers.load(TINY, null)) {
      data = RewardPairs.load(ROOT.resolve("test/fixtures/data/pref-en-64.jsonl"), tok, 256);
    }
    int[][] chosen = new int[4][];
    int[][] rejected = new int[4][];
    for (int i = 0; i < 4; i++) {
      chosen[i] = data.pairs().get(i).chosen();
      rejected[i] = data.pairs().get(i).rejected();
    }
    RewardBatch batch = RewardBatch.collate(chosen, rejected, new float[4], new long[] {0, 1, 2, 3}, 2);
    LlamaConfig config = LlamaConfig.read(FINAL);
    Path hf = tmp.resolve("rm");
    float[] training;
    try (RewardGraph graph = RewardGraph.build(
            new RewardGraph.Settings(config, 0, new AdamW.Hyper(0.9f, 0.999f, 1e-8f), 1.0, 2));
        SafeTensorsReader weights = SafeTensorsReader.open(FINAL)) {
      assertTrue(graph.load(weights, 0.2, 42));
      training = graph.evaluate(batch).scores();
      RewardModelExport.write(hf, INIT, config, graph.weights(), 2, HfExport.Options.DEFAULT);
    }

    JsonObject c = JsonParser.parseString(Files.readString(hf.resolve("config.json"))).getAsJsonObject();
    assertEquals("LlamaForSequenceClassification", c.getAsJsonArray("architectures").get(0).getAsString());
    assertEquals(1, c.getAsJsonObject("id2label").size(), "num_labels 1");
    assertEquals(2, c.get("pad_token_id").getAsInt());
    assertTrue(Files.isRegularFile(hf.resolve("tokenizer.json")));
    try (SafeTensorsReader want = SafeTensorsReader.open(FINAL);
        SafeTensorsReader got = SafeTensorsReader.open(hf)) {
      assertEquals(want.names(), got.names(), "backbone + score.weight, no lm_head.weight");
      assertFalse(got.contains("lm_head.weight"));
      for (String name : want.names()) {
        assertArrayEquals(want.readFloats(name), got.readFloats(name), name);
      }
    }

    Path saved = tmp.resolve("savedmodel");
    RewardSavedModelExport.export(hf, saved);
    try (SavedModelBundle bundle = SavedModelExport.load(saved);
        TInt32 ids = Tensors.ints(new long[] {batch.rows(), batch.length()}, batch.inputIds());
        TInt32 mask = Tensors.ints(new long[] {batch.rows(), batch.length()}, mask(batch));
        Result r = bundle.function("score").call(Map.of("input_ids", ids, "attention_mask", mask))) {
      float[] served = Tensors.toFloats(r.get("score").get());
      // The same ops on the same layout with the trainer's session options: equal up to the order of
      // float sums inside the kernels, 1e-5 on rewards of order 1.
      for (int i = 0; i < served.length; i++) {
        assertEquals(training[i], served[i], 1e-5, "row " + i);
      }
    }
  }

  @Test
  void exportToolTakesARewardModelDirectory() throws Exception {
    java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
    java.io.ByteArrayOutputStream err = new java.io.ByteArrayOutputStream();
    int status = ExportMain.run(new String[] {FINAL.toString(), tmp.resolve("sm").toString(), "--format", "savedmodel"},
        new java.io.PrintStream(out), new java.io.PrintStream(err));
    assertEquals(0, status, err.toString());
    assertTrue(out.toString().contains("signature_def['score']"), out.toString());
    status = ExportMain.run(new String[] {FINAL.toString(), tmp.resolve("bf16").toString(), "--format", "hf",
        "--dtype", "bfloat16"}, new java.io.PrintStream(out), new java.io.PrintStream(err));
    assertEquals(0, status, err.toString());
    try (SafeTensorsReader got = SafeTensorsReader.open(tmp.resolve("bf16"))) {
      assertTrue(got.contains("score.weight"));
      assertEquals(dev.tfdpo.io.safetensors.DType.BF16, got.info("score.weight").dtype());
    }
  }

  static int[] mask(RewardBatch b) {
    int[] m = new int[b.rows() * b.length()];
    for (int r = 0; r < b.rows(); r++) {
      for (int t = 0; t < b.lengths()[r]; t++) {
        m[r * b.length() + t] = 1;
      }
    }
    return m;
  }
}
