package dev.tfdpo.trainer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tfdpo.data.TokenIdsJsonl;
import dev.tfdpo.graphs.training.Batch;
import dev.tfdpo.graphs.training.DpoGraph;
import dev.tfdpo.graphs.training.DpoObjective;
import dev.tfdpo.graphs.training.ReferencePass;
import dev.tfdpo.io.hf.LlamaConfig;
import dev.tfdpo.io.hf.LlamaWeights;
import dev.tfdpo.io.safetensors.SafeTensorsReader;
import dev.tfdpo.ops.AdamW;
import dev.tfdpo.ops.Attention;
import dev.tfdpo.ops.GatedSilu;
import dev.tfdpo.ops.LossSpec;
import dev.tfdpo.ops.Precision;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.tensorflow.GraphOperation;
import org.tensorflow.proto.DataType;

/**
 * The bf16 training graph's structure on {@code tiny-llama-a}: which ops run in bfloat16 (the weight
 * products and attention products of both passes), which stay float32 (every reduction, softmax,
 * log-softmax, norm, loss), and what O2 stores (the reference's matrices in bfloat16, half their bytes).
 */
class Bf16GraphTest {

  static final AdamW.Hyper ADAM = new AdamW.Hyper(0.9f, 0.999f, 1e-8f);
  static final LossSpec SIGMOID = LossSpec.builder("sigmoid").build();
  /** Ops that reduce, normalise or exponentiate: none of them may run in bfloat16. */
  static final Set<String> FLOAT32_ONLY = Set.of("Sum", "Mean", "Max", "Min", "Softmax", "LogSoftmax", "Exp",
      "Log", "Rsqrt", "Sqrt", "Square", "Sigmoid", "Softplus", "Cumsum", "L2Loss", "ApplyAdam", "AssignAdd");

  static LlamaConfig config;
  static Batch batch;
  static long matrixElements;
  static long vectorElements;

  @BeforeAll
  static void setUp() throws Exception {
    config = LlamaConfig.read(Golden.TINY);
    batch = new Collator(2).padded(TokenIdsJsonl.read(Golden.TOKENS).subList(0, 4));
    for (LlamaWeights.Entry e : LlamaWeights.of(config).entries()) {
      long n = 1;
      for (long d : e.shape()) {
        n *= d;
      }
      if (e.shape().length > 1) {
        matrixElements += n;
      } else {
        vectorElements += n;
      }
    }
  }

  static DpoGraph build(Precision compute, Precision referenceStorage) {
    return DpoGraph.build(new DpoGraph.Settings(config, new DpoObjective(SIGMOID), ADAM, 1.0, 2,
        DpoGraph.Reference.live(config), false, compute, referenceStorage));
  }

  static List<GraphOperation> ops(DpoGraph g, String type, DataType dtype) {
    List<GraphOperation> out = new ArrayList<>();
    g.session().graph().operations().forEachRemaining(op -> {
      if ((type == null || op.type().equals(type)) && op.numOutputs() > 0 && op.output(0).dataType() == dtype) {
        out.add((GraphOperation) op);
      }
    });
    return out;
  }

  static long count(List<GraphOperation> ops, String prefix) {
    return ops.stream().filter(op -> op.name().startsWith(prefix)).count();
  }

  @Test
  void productsRunInBfloat16AndReductionsInFloat32() {
    try (DpoGraph g = build(Precision.BFLOAT16, Precision.FLOAT32)) {
      int layers = config.numHiddenLayers();
      // Per layer: the q, k, v, o, gate, up and down projections (MatMul) and the score and
      // context products of each causal block (Einsum); then the vocabulary projection.
      long perForwardMatMuls = 7L * layers + 1;
      long perForwardEinsums = 2L * Attention.CAUSAL_BLOCKS * layers;
      for (String pass : List.of("forward/", "reference_forward/")) {
        assertEquals(perForwardMatMuls, count(ops(g, "MatMul", DataType.DT_BFLOAT16), pass), pass);
        assertEquals(perForwardEinsums, count(ops(g, "Einsum", DataType.DT_BFLOAT16), pass), pass);
        // The forward's other MatMuls are the one-hot per-sequence sums: float32 / float64.
        assertEquals(0, count(ops(g, "Einsum", DataType.DT_FLOAT), pass), pass);
      }
      // The backward pass: each bf16 product's two input gradients are bf16 products too, and each causal
      // block's score product is recomputed there (the lean attention block keeps no probabilities).
      long backward = ops(g, "MatMul", DataType.DT_BFLOAT16).size() + ops(g, "Einsum", DataType.DT_BFLOAT16).size()
          - 2 * (perForwardMatMuls + perForwardEinsums);
      long rebuilt = GatedSilu.active() ? (long) Attention.CAUSAL_BLOCKS * layers : 0;
      assertEquals(2 * (perForwardMatMuls + perForwardEinsums) + rebuilt, backward, "bf16 products of the gradient");
      for (String type : FLOAT32_ONLY) {
        assertEquals(List.of(), ops(g, type, DataType.DT_BFLOAT16).stream().map(GraphOperation::name).toList(),
            type + " in bfloat16");
      }
      // Weights, accumulators and Adam's moments: all float32.
      assertEquals(List.of(), ops(g, "VariableV2", DataType.DT_BFLOAT16_REF));
      assertEquals(5 * 4 * (matrixElements + vectorElements), g.variableBytes());
    }
  }

  @Test
  void float32GraphHasNoBfloat16Op() {
    try (DpoGraph g = build(Precision.FLOAT32, Precision.FLOAT32)) {
      assertEquals(List.of(), ops(g, null, DataType.DT_BFLOAT16).stream().map(GraphOperation::name).toList());
    }
  }

  @Test
  void o2StoresTheReferenceMatricesInBfloat16() throws Exception {
    try (DpoGraph g = build(Precision.BFLOAT16, Precision.BFLOAT16)) {
      long referenceBytes = 2 * matrixElements + 4 * vectorElements;
      assertEquals(referenceBytes, g.variableBytes("reference/"));
      assertEquals(4 * 4 * (matrixElements + vectorElements) + referenceBytes, g.variableBytes());
      assertTrue(referenceBytes < 0.51 * 4 * (matrixElements + vectorElements), "about half a float32 copy");
      try (SafeTensorsReader weights = SafeTensorsReader.open(Golden.TINY)) {
        g.policyLoader().load(g.session(), weights);
        g.referenceLoader().load(g.session(), weights);
        // Read back: each matrix value rounded to the nearest bfloat16 (ties to even), vectors exact.
        Map<String, float[]> stored = g.referenceWeights();
        for (String name : List.of("model.layers.0.self_attn.q_proj.weight", "model.embed_tokens.weight",
            "model.norm.weight")) {
          float[] original = weights.readFloats(name);
          boolean matrix = LlamaWeights.of(config).entry(name).shape().length > 1;
          float[] expected = original.clone();
          if (matrix) {
            for (int i = 0; i < expected.length; i++) {
              expected[i] = roundToBfloat16(expected[i]);
            }
          }
          assertArrayEquals(expected, stored.get(name), name);
        }
      }
      // Step 1: the policy reads what the reference holds, so the margins are exactly 0.
      DpoGraph.MicroResult r = g.micro(batch, 1f);
      assertArrayEquals(r.referenceLogps(), r.policyLogps());
      assertEquals(0f, r.metric("rewards/margins"));
    }
  }

  @Test
  void bf16PrecomputedReferenceIsBitwiseTheLiveBf16One() throws Exception {
    float[] fed;
    try (ReferencePass pass = new ReferencePass(config, 1f, 2, Precision.BFLOAT16);
        SafeTensorsReader ref = SafeTensorsReader.open(Golden.TINY)) {
      pass.load(ref);
      fed = pass.run(batch);
    }
    try (DpoGraph g = build(Precision.BFLOAT16, Precision.FLOAT32);
        SafeTensorsReader weights = SafeTensorsReader.open(Golden.TINY)) {
      g.policyLoader().load(g.session(), weights);
      g.referenceLoader().load(g.session(), weights);
      DpoGraph.MicroResult live = g.micro(batch, 1f);
      assertArrayEquals(live.referenceLogps(), fed, "bf16 pass = bf16 live reference");
      // Policy = reference at step 1: bf16 policy log-probs equal the bf16 precomputed ones, so the
      // precomputed run's step-1 margins are 0 as the live one's.
      assertArrayEquals(live.policyLogps(), fed);
    }
  }

  @Test
  void o2NeedsAFrozenLiveReference() {
    var e = assertThrows(IllegalArgumentException.class, () -> new DpoGraph.Settings(config,
        new DpoObjective(SIGMOID), ADAM, 1.0, 2, DpoGraph.Reference.fed(), false, Precision.BFLOAT16,
        Precision.BFLOAT16));
    assertTrue(e.getMessage().contains("only a live, never-synced reference"), e.getMessage());
    assertThrows(IllegalArgumentException.class, () -> new DpoGraph.Settings(config, new DpoObjective(SIGMOID),
        ADAM, 1.0, 2, DpoGraph.Reference.synced(config, 1.0), false, Precision.BFLOAT16, Precision.BFLOAT16));
  }

  /** Round to nearest even on the upper 16 bits: TensorFlow's float32 to bfloat16 Cast for finite values. */
  static float roundToBfloat16(float x) {
    int bits = Float.floatToRawIntBits(x);
    int rounding = 0x7FFF + ((bits >>> 16) & 1);
    return Float.intBitsToFloat((bits + rounding) & 0xFFFF0000);
  }
}
