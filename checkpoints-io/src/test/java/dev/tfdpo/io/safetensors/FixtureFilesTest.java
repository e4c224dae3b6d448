package dev.tfdpo.io.safetensors;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.IOException;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Files written by the real Hugging Face stack (safetensors via transformers and the golden script). */
class FixtureFilesTest {

  @Test
  void tinyLlamaCheckpoint() throws IOException {
    try (SafeTensorsReader reader = SafeTensorsReader.open(TestRoot.fixture("tiny-llama-a"))) {
      assertEquals(21, reader.names().size());
      assertEquals(Map.of("format", "pt"), reader.metadata());
      TensorInfo embed = reader.info("model.embed_tokens.weight");
      assertEquals(DType.F32, embed.dtype());
      assertArrayEquals(new long[] {2000, 64}, embed.shape());
      float[] weights = reader.readFloats("model.embed_tokens.weight");
      assertEquals(128_000, weights.length);
      // Values read with numpy from the same file.
      assertEquals(0x1.0e3a46p-7f, weights[0]);
      assertEquals(0x1.54f07ep-6f, weights[1]);
      assertEquals(0x1.2bd138p-2f, weights[weights.length - 1]);
      double sum = 0;
      for (float w : weights) {
        sum += w;
      }
      assertEquals(99.22748109178286, sum, 1e-9);
      assertArrayEquals(new long[] {64}, reader.info("model.norm.weight").shape());
    }
  }

  @Test
  void goldenLogits() throws IOException {
    try (SafeTensorsReader reader =
        SafeTensorsReader.open(TestRoot.fixture("golden/single-batch/a-logits.safetensors"))) {
      TensorInfo ids = reader.info("input_ids");
      assertEquals(DType.I64, ids.dtype());
      assertArrayEquals(new long[] {178}, ids.shape());
      long[] tokens = reader.readLongs("input_ids");
      long[] firstTokens = java.util.Arrays.copyOf(tokens, 8);
      assertArrayEquals(new long[] {1, 391, 488, 294, 1980, 391, 1930, 1970}, firstTokens);
      assertEquals(2, tokens[177]);
      assertEquals(164_906, java.util.Arrays.stream(tokens).sum());

      TensorInfo logits = reader.info("logits");
      assertEquals(DType.F32, logits.dtype());
      assertArrayEquals(new long[] {178, 2000}, logits.shape());
      float[] values = reader.readFloats("logits");
      assertEquals(0x1.c084e2p-1f, values[0]);
      assertEquals(-0x1.a6a8cap+0f, values[1]);
      assertEquals(0x1.42ca34p-1f, values[values.length - 1]);
    }
  }
}
