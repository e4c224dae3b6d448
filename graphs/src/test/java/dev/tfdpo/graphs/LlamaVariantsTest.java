package dev.tfdpo.graphs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonParser;
import dev.tfdpo.io.hf.LlamaConfig;
import dev.tfdpo.io.hf.LlamaWeights;
import dev.tfdpo.io.safetensors.DType;
import dev.tfdpo.io.safetensors.NamedTensor;
import dev.tfdpo.io.safetensors.SafeTensorsReader;
import dev.tfdpo.io.safetensors.SafeTensorsWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.tensorflow.Graph;
import org.tensorflow.Operand;
import org.tensorflow.Session;
import org.tensorflow.Tensor;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Placeholder;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt32;

/**
 * Architectures the fixtures do not cover: tied embeddings, multi-query attention, a head_dim that is
 * not hidden/heads, llama3 RoPE from the legacy keys and Qwen2-style biases. Without a reference
 * implementation at hand, the check is an invariance: two sequences packed into one row (own segment
 * ids, positions restarting at 0) give the same logits as each sequence alone in a padded batch.
 */
class LlamaVariantsTest {

  static final String CONFIG = """
      {"model_type": "qwen2", "vocab_size": 50, "hidden_size": 32, "intermediate_size": 40,
       "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 1, "head_dim": 12,
       "rms_norm_eps": 1e-6, "tie_word_embeddings": true, "attention_bias": true, "mlp_bias": true,
       "rope_theta": 500000.0,
       "rope_scaling": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                        "high_freq_factor": 4.0, "original_max_position_embeddings": 16}}
      """;

  @TempDir Path dir;

  @Test
  void packedRowEqualsSeparateRows() throws Exception {
    LlamaConfig config = LlamaConfig.fromJson(JsonParser.parseString(CONFIG).getAsJsonObject(), "test");
    assertEquals(12, config.headDim());
    assertEquals("llama3", config.rope().type());
    LlamaWeights table = LlamaWeights.of(config);
    assertFalse(table.contains("lm_head.weight"));
    assertTrue(table.contains("model.layers.0.self_attn.q_proj.bias"));

    Random random = new Random(7);
    List<NamedTensor> tensors = new ArrayList<>();
    for (LlamaWeights.Entry e : table.entries()) {
      long n = 1;
      for (long d : e.shape()) {
        n *= d;
      }
      float[] data = new float[(int) n];
      for (int i = 0; i < data.length; i++) {
        data[i] = e.kind() == LlamaWeights.Kind.NORM ? 1f + 0.1f * (float) random.nextGaussian()
            : 0.2f * (float) random.nextGaussian();
      }
      tensors.add(new NamedTensor(e.hfName(), e.shape(), data));
    }
    SafeTensorsWriter.writeModel(dir, tensors, DType.F32, Long.MAX_VALUE);

    int[] a = {1, 5, 9, 14, 3, 22, 7};
    int[] b = {1, 30, 2, 44, 8};
    int len = a.length + b.length;
    // Separate rows, right-padded to the longest.
    int[] ids = new int[2 * a.length];
    int[] pos = new int[2 * a.length];
    int[] seg = new int[2 * a.length];
    for (int t = 0; t < a.length; t++) {
      ids[t] = a[t];
      pos[t] = t;
      seg[t] = 1;
      pos[a.length + t] = t;
      if (t < b.length) {
        ids[a.length + t] = b[t];
        seg[a.length + t] = 1;
      }
    }
    // One packed row: a then b, positions restart, segment ids 1 and 2.
    int[] pIds = new int[len];
    int[] pPos = new int[len];
    int[] pSeg = new int[len];
    for (int t = 0; t < len; t++) {
      boolean first = t < a.length;
      pIds[t] = first ? a[t] : b[t - a.length];
      pPos[t] = first ? t : t - a.length;
      pSeg[t] = first ? 1 : 2;
    }

    try (Graph g = new Graph(); Session s = new Session(g)) {
      Ops tf = Ops.create(g);
      Placeholder<TInt32> idsIn = tf.placeholder(TInt32.class);
      Placeholder<TInt32> posIn = tf.placeholder(TInt32.class);
      Placeholder<TInt32> segIn = tf.placeholder(TInt32.class);
      Placeholder<TInt32> brIn = tf.placeholder(TInt32.class);
      Llama model = Llama.create(tf, config, "policy");
      WeightLoader loader = WeightLoader.create(tf, model);
      Operand<TFloat32> logits = model.logits(tf, model.hidden(tf, new Llama.Inputs(idsIn, posIn, segIn, brIn)));
      try (SafeTensorsReader r = SafeTensorsReader.open(dir)) {
        loader.load(s, r);
      }
      float[] separate = run(s, idsIn, posIn, segIn, brIn, logits, new long[] {2, a.length}, ids, pos, seg);
      float[] packed = run(s, idsIn, posIn, segIn, brIn, logits, new long[] {1, len}, pIds, pPos, pSeg);
      int v = config.vocabSize();
      float maxDiff = 0;
      for (int t = 0; t < a.length; t++) {
        for (int k = 0; k < v; k++) {
          maxDiff = Math.max(maxDiff, Math.abs(separate[t * v + k] - packed[t * v + k]));
        }
      }
      for (int t = 0; t < b.length; t++) {
        for (int k = 0; k < v; k++) {
          float alone = separate[(a.length + t) * v + k];
          float inRow = packed[(a.length + t) * v + k];
          assertTrue(Float.isFinite(alone));
          maxDiff = Math.max(maxDiff, Math.abs(alone - inRow));
        }
      }
      System.out.printf("packed vs separate logits max |diff|: %.3e%n", maxDiff);
      assertTrue(maxDiff < 1e-5, "packed vs separate: " + maxDiff);
    }
  }

  static float[] run(Session s, Placeholder<TInt32> idsIn, Placeholder<TInt32> posIn, Placeholder<TInt32> segIn,
      Placeholder<TInt32> brIn, Operand<TFloat32> logits, long[] shape, int[] ids, int[] pos, int[] seg)
      throws Exception {
    try (Tensor a = Tensors.ints(shape, ids);
        Tensor b = Tensors.ints(shape, pos);
        Tensor c = Tensors.ints(shape, seg);
        Tensor d = Tensors.ints(shape, new int[ids.length]);
        var result = s.runner().feed(idsIn, a).feed(posIn, b).feed(segIn, c).feed(brIn, d).fetch(logits).run()) {
      return Tensors.toFloats(result.get(0));
    }
  }
}
