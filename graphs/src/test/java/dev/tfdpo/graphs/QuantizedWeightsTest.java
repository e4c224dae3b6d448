package dev.tfdpo.graphs;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.tensorflow.Graph;
import org.tensorflow.Session;
import org.tensorflow.op.Ops;

/**
 * weight_only_int8 and nf4: quantization of hand-computed blocks, the graph's dequantization against
 * Java's, and the per-weight error bounds.
 */
class QuantizedWeightsTest {

  @Test
  void int8HandComputedRow() {
    // absmax 1.27: scale 0.01; codes round(w / 0.01) = 50, -127, 1, 127, 0 (+128 as stored bytes).
    float[] w = {0.5f, -1.27f, 0.01f, 1.27f, 0.004f};
    QuantizedWeights.Quantized q = QuantizedWeights.quantize(QuantizedWeights.Algo.WEIGHT_ONLY_INT8, w, 1, 5);
    assertEquals(1.27f / 127f, q.scales()[0]);
    assertArrayEquals(new byte[] {(byte) 178, 1, (byte) 129, (byte) 255, (byte) 128}, q.codes());
    float[] back = QuantizedWeights.dequantize(QuantizedWeights.Algo.WEIGHT_ONLY_INT8, q, 1, 5);
    float s = q.scales()[0];
    assertArrayEquals(new float[] {50 * s, -127 * s, s, 127 * s, 0}, back);
  }

  @Test
  void nf4HandComputedBlock() {
    // A block of 64 whose absmax is 2: element k is 2 * codebook[k % 16], so its code is k % 16 exactly;
    // element 1 is moved just past the midpoint between codes 0 and 1 (-0.848), so it rounds to code 1.
    float[] w = new float[64];
    for (int k = 0; k < 64; k++) {
      w[k] = 2 * QuantizedWeights.NF4_CODEBOOK[k % 16];
    }
    w[1] = 2 * -0.84f;
    QuantizedWeights.Quantized q = QuantizedWeights.quantize(QuantizedWeights.Algo.NF4, w, 1, 64);
    assertArrayEquals(new float[] {2f}, q.scales());
    assertEquals(32, q.codes().length);
    assertEquals((byte) 0x01, q.codes()[0], "codes 0 and 1, the even element in the high nibble");
    assertEquals((byte) 0xEF, q.codes()[7], "codes 14 and 15");
    float[] back = QuantizedWeights.dequantize(QuantizedWeights.Algo.NF4, q, 1, 64);
    for (int k = 0; k < 64; k++) {
      assertEquals(2 * QuantizedWeights.NF4_CODEBOOK[k % 16], back[k], 0f, "element " + k);
    }
  }

  @Test
  void graphDequantizesAsJavaWithinTheErrorBounds() {
    int out = 6;
    int in = 128;
    Random random = new Random(5);
    float[] w = new float[out * in];
    for (int k = 0; k < w.length; k++) {
      w[k] = (float) random.nextGaussian() * 0.1f;
    }
    for (QuantizedWeights.Algo algo : QuantizedWeights.Algo.values()) {
      float[] fromGraph;
      try (Graph g = new Graph(); Session session = new Session(g)) {
        Ops tf = Ops.create(g);
        QuantizedWeights.Stored stored = QuantizedWeights.create(algo, tf, "w", new long[] {out, in});
        QuantizedWeights weights =
            new QuantizedWeights(algo, Map.of("w", stored), Map.of("w", new long[] {out, in}), tf);
        weights.load(session, "w", w);
        try (var result = session.runner().fetch(stored.dequantize(tf)).run()) {
          fromGraph = Tensors.toFloats(result.get(0));
        }
      }
      QuantizedWeights.Quantized q = QuantizedWeights.quantize(algo, w, out, in);
      assertArrayEquals(QuantizedWeights.dequantize(algo, q, out, in), fromGraph, 0f, algo.configName());
      for (int k = 0; k < w.length; k++) {
        // int8: half a step of its row's scale; nf4: half the widest codebook gap (0.3038 / 2) times the
        // block's absmax; plus a float32 rounding of the product.
        float scale = algo == QuantizedWeights.Algo.WEIGHT_ONLY_INT8 ? q.scales()[k / in] / 2
            : q.scales()[k / QuantizedWeights.NF4_BLOCK] * 0.3039f / 2;
        assertTrue(Math.abs(fromGraph[k] - w[k]) <= scale * (1 + 1e-6f),
            algo.configName() + " element " + k + ": " + fromGraph[k] + " vs " + w[k]);
      }
    }
  }
}
