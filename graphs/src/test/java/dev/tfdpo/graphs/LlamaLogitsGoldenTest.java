package dev.tfdpo.graphs;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tfdpo.io.hf.LlamaConfig;
import dev.tfdpo.io.safetensors.SafeTensorsReader;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.tensorflow.Graph;
import org.tensorflow.Operand;
import org.tensorflow.Session;
import org.tensorflow.Tensor;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Placeholder;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt32;

/** The forward pass against transformers' logits of golden row 0 (178 tokens, vocabulary 2000). */
class LlamaLogitsGoldenTest {

  static final Path ROOT = Path.of(System.getProperty("tfdpo.root", "."));
  static final Path MODEL = ROOT.resolve("test/fixtures/tiny-llama-a");
  static final Path GOLDEN = ROOT.resolve("test/fixtures/golden/single-batch/a-logits.safetensors");

  /** transformers' own padded-vs-unpadded difference is 3.8e-6; 1e-4 is the bound. */
  static final float TOLERANCE = 1e-4f;

  @Test
  void logitsMatchTransformers() throws Exception {
    long[] ids;
    float[] expected;
    try (SafeTensorsReader golden = SafeTensorsReader.open(GOLDEN)) {
      ids = golden.readLongs("input_ids");
      expected = golden.readFloats("logits");
    }
    int n = ids.length;
    int[] tokenIds = new int[n];
    int[] positions = new int[n];
    int[] segments = new int[n];
    for (int i = 0; i < n; i++) {
      tokenIds[i] = (int) ids[i];
      positions[i] = i;
      segments[i] = 1;
    }
    LlamaConfig config = LlamaConfig.read(MODEL);
    try (Graph g = new Graph(); Session s = new Session(g)) {
      Ops tf = Ops.create(g);
      Placeholder<TInt32> idsIn = tf.placeholder(TInt32.class);
      Placeholder<TInt32> posIn = tf.placeholder(TInt32.class);
      Placeholder<TInt32> segIn = tf.placeholder(TInt32.class);
      Placeholder<TInt32> branchIn = tf.placeholder(TInt32.class);
      Llama model = Llama.create(tf, config, "policy");
      WeightLoader loader = WeightLoader.create(tf, model);
      Operand<TFloat32> logits =
          model.logits(tf, model.hidden(tf, new Llama.Inputs(idsIn, posIn, segIn, branchIn)));
      try (SafeTensorsReader weights = SafeTensorsReader.open(MODEL)) {
        loader.load(s, weights);
      }
      long[] shape = {1, n};
      try (Tensor a = Tensors.ints(shape, tokenIds);
          Tensor b = Tensors.ints(shape, positions);
          Tensor c = Tensors.ints(shape, segments);
          Tensor d = Tensors.ints(shape, new int[n]);
          var result = s.runner().feed(idsIn, a).feed(posIn, b).feed(segIn, c).feed(branchIn, d)
              .fetch(logits).run()) {
        float[] actual = Tensors.toFloats(result.get(0));
        float maxDiff = 0;
        for (int i = 0; i < actual.length; i++) {
          maxDiff = Math.max(maxDiff, Math.abs(actual[i] - expected[i]));
        }
        System.out.printf("logits max |diff| vs transformers: %.3e over %d values%n", maxDiff, actual.length);
        assertTrue(maxDiff <= TOLERANCE, "max |diff| " + maxDiff);
        assertArrayEquals(new long[] {expected.length}, new long[] {actual.length});
      }
    }
  }
}
