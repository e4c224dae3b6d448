package dev.tfdpo.trainer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tfdpo.data.TokenIdsJsonl;
import dev.tfdpo.graphs.LoraAdapters;
import dev.tfdpo.graphs.QuantizedWeights;
import dev.tfdpo.graphs.training.Batch;
import dev.tfdpo.graphs.training.DpoGraph;
import dev.tfdpo.graphs.training.LoraTraining;
import dev.tfdpo.graphs.Recompute;
import dev.tfdpo.io.hf.LlamaConfig;
import dev.tfdpo.io.hf.PeftAdapter;
import dev.tfdpo.io.safetensors.SafeTensorsReader;
import dev.tfdpo.ops.AdamW;
import dev.tfdpo.ops.LossSpec;
import dev.tfdpo.ops.Precision;
import dev.tfdpo.graphs.training.DpoObjective;
import dev.tfdpo.graphs.training.KtoObjective;
import dev.tfdpo.graphs.training.Objective;
import dev.tfdpo.graphs.training.Replication;
import org.tensorflow.proto.DataType;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * LoRA in the training graph on the golden batch (pairs 0-3, {@code tiny-llama-a}): a zero B gives the
 * base's log-probs bitwise, only adapters get gradients and optimizer state, the base never changes, the
 * reference is the starting policy, and LoRA+ scales exactly the B matrices' step.
 */
class LoraGraphTest {

  static final AdamW.Hyper ADAM = new AdamW.Hyper(0.9f, 0.999f, 1e-8f);
  static final LossSpec SIGMOID = LossSpec.builder("sigmoid").build();

  static LlamaConfig config;
  static Batch batch;
  static PeftAdapter start;
  static LoraAdapters.Spec spec;

  @BeforeAll
  static void setUp() throws Exception {
    config = LlamaConfig.read(Golden.TINY);
    batch = new Collator(2).padded(TokenIdsJsonl.read(Golden.TOKENS).subList(0, 4));
    start = PeftAdapter.read(Golden.GOLDEN.resolve("lora/a-lora-r4-init"));
    spec = new LoraAdapters.Spec(start.rank(), start.alpha(), false, start.targets());
  }

  static DpoGraph build(DpoGraph.Reference reference, LoraTraining lora) throws Exception {
    return build(new DpoGraph.Settings(config, SIGMOID, ADAM, 1.0, 2, reference).withLora(lora));
  }

  /** A graph of {@code objective} in {@code compute}, the base loaded. */
  static DpoGraph build(Objective objective, DpoGraph.Reference reference, Precision compute, LoraTraining lora)
      throws Exception {
    return build(new DpoGraph.Settings(config, objective, ADAM, 1.0, 2, reference, false, compute,
        Precision.FLOAT32).withLora(lora));
  }

  static DpoGraph build(DpoGraph.Settings settings) throws Exception {
    DpoGraph g = DpoGraph.build(settings);
    try (SafeTensorsReader base = SafeTensorsReader.open(Golden.TINY)) {
      g.policyLoader().load(g.session(), base);
    }
    return g;
  }

  /** The shared golden starting adapter in both adapter sets of {@code g}. */
  static void loadStart(DpoGraph g) {
    g.policyAdapters().assign(g.session(), start.tensors());
    if (g.referenceAdapters() != null) {
      g.referenceAdapters().assign(g.session(), start.tensors());
    }
  }

  /**
   * LoRA with recompute: each recomputed block is rebuilt with the same adapters, and its gradient call
   * takes the adapters it reads (the base is frozen). Per adapter tensor, {@code max |g_recompute -
   * g_plain| <= 1e-6 max |g_plain|}, RecomputeTest's bound (same kernels on the same values; only the
   * summation order of a tensor's gradient contributions may differ, a few float32 ulps).
   */
  @Test
  void recomputeGivesThePlainAdapterGradients() throws Exception {
    Map<String, float[]> plain;
    try (DpoGraph g = build(DpoGraph.Reference.live(config), new LoraTraining(spec, 1f, true))) {
      loadStart(g);
      g.micro(batch, 1f);
      plain = g.accumulatedGradients();
    }
    for (Recompute.Granularity r : Recompute.Granularity.values()) {
      try (DpoGraph g = build(new DpoGraph.Settings(config, SIGMOID, ADAM, 1.0, 2, DpoGraph.Reference.live(config))
          .withLora(new LoraTraining(spec, 1f, true)).withRecompute(r))) {
        loadStart(g);
        g.micro(batch, 1f);
        Map<String, float[]> recomputed = g.accumulatedGradients();
        assertEquals(plain.keySet(), recomputed.keySet(), r.configName());
        double worst = 0;
        for (String name : plain.keySet()) {
          float[] p = plain.get(name);
          float[] q = recomputed.get(name);
          double scale = 0;
          double diff = 0;
          for (int i = 0; i < p.length; i++) {
            scale = Math.max(scale, Math.abs(p[i]));
            diff = Math.max(diff, Math.abs(q[i] - p[i]));
          }
          assertTrue(scale > 0, name + ": zero gradient, the comparison would prove nothing");
          assertTrue(diff <= 1e-6 * scale, r.configName() + " " + name + ": max diff " + diff + " vs " + scale);
          worst = Math.max(worst, diff / scale);
        }
        System.out.printf("LoRA with recompute %s: worst relative adapter-gradient difference %.3g%n",
            r.configName(), worst);
      }
    }
  }

  @Test
  void zeroBGivesTheBaseLogProbsBitwise() throws Exception {
    float[] base;
    try (DpoGraph g = build(DpoGraph.Reference.none(), null)) {
      base = g.micro(batch, 1f).policyLogps();
    }
    Map<String, float[]> init = LoraRun.pefInit(LoraRun.expectedShapes(config, spec), 42);
    try (DpoGraph g = build(DpoGraph.Reference.none(), new LoraTraining(spec, 1f, false))) {
      g.policyAdapters().assign(g.session(), init);
      assertArrayEquals(base, g.micro(batch, 1f).policyLogps(), 0f, "x W^T + s (x A^T) 0 is x W^T exactly");
      // With B = 0 the gradient reaches B only: dL/dA = s B^T (dL/dy)^T x is zero.
      for (Map.Entry<String, float[]> e : g.accumulatedGradients().entrySet()) {
        double norm = Golden.l2(e.getValue());
        assertEquals(LoraAdapters.isB(e.getKey()), norm > 0, e.getKey() + " gradient norm " + norm);
      }
    }
  }

  @Test
  void onlyAdaptersTrainTheBaseNeverChangesAndTheReferenceIsTheStart() throws Exception {
    try (DpoGraph g = build(DpoGraph.Reference.live(config), new LoraTraining(spec, 1f, true));
        SafeTensorsReader file = SafeTensorsReader.open(Golden.TINY)) {
      loadStart(g);
      assertTrue(g.referenceSharesBase());
      List<String> names = g.variableNames();
      // No reference copy of the base; accumulators and Adam moments exist for adapter tensors only.
      assertFalse(names.stream().anyMatch(n -> n.startsWith("reference/")), names.toString());
      for (String n : names) {
        if (n.startsWith("optimizer/")) {
          assertTrue(n.contains(".lora_A.") || n.contains(".lora_B."), "optimizer state of a base weight: " + n);
        }
      }
      long adapterFloats = 0;
      for (float[] v : start.tensors().values()) {
        adapterFloats += v.length;
      }
      long baseBytes = 0;
      for (String n : file.names()) {
        baseBytes += 4L * file.readFloats(n).length;
      }
      // base + adapter, its accumulator, Adam m and v + the reference's frozen adapter copy
      assertEquals(baseBytes + 5 * 4 * adapterFloats, g.variableBytes());

      DpoGraph.MicroResult first = g.micro(batch, 1f);
      assertEquals(0f, first.metric("rewards/chosen"), 0f, "reference = starting policy");
      assertEquals(0f, first.metric("rewards/margins"), 0f);
      assertArrayEquals(first.policyLogps(), first.referenceLogps(), 0f);
      for (int step = 1; step <= 2; step++) {
        g.apply(AdamW.stepScalars(1e-3, 0.01, ADAM, step));
        g.micro(batch, 1f);
      }
      g.apply(AdamW.stepScalars(1e-3, 0.01, ADAM, 3));
      Map<String, float[]> weights = g.policyWeights();
      for (String n : weights.keySet()) {
        assertArrayEquals(file.readFloats(n), weights.get(n), 0f, "base weight changed: " + n);
      }
      Map<String, float[]> trained = g.policyAdapters().read(g.session());
      Map<String, float[]> reference = g.referenceAdapters().read(g.session());
      for (String n : start.tensors().keySet()) {
        assertArrayEquals(start.tensors().get(n), reference.get(n), 0f, "reference adapter changed: " + n);
        assertFalse(java.util.Arrays.equals(start.tensors().get(n), trained.get(n)), "adapter not trained: " + n);
      }
      DpoGraph.MicroResult after = g.micro(batch, 1f);
      assertArrayEquals(first.referenceLogps(), after.referenceLogps(), 0f, "the reference never moves");
      assertTrue(after.metric("rewards/margins") != 0f);
    }
  }

  @Test
  void rsLoraScalesByAlphaOverSqrtR() throws Exception {
    // r = 4: rsLoRA with alpha 8 scales by 8 / 2 = 4, plain LoRA with alpha 16 by 16 / 4 = 4: the same
    // float, so the same graph numbers bitwise; plain alpha 8 (scale 2) differs.
    LoraAdapters.Spec rs = new LoraAdapters.Spec(4, 8, true, spec.targets());
    LoraAdapters.Spec plain16 = new LoraAdapters.Spec(4, 16, false, spec.targets());
    assertEquals(4f, rs.scale());
    float[][] logps = new float[3][];
    LoraAdapters.Spec[] specs = {rs, plain16, spec};
    for (int k = 0; k < 3; k++) {
      try (DpoGraph g = build(DpoGraph.Reference.none(), new LoraTraining(specs[k], 1f, false))) {
        g.policyAdapters().assign(g.session(), start.tensors());
        logps[k] = g.micro(batch, 1f).policyLogps();
      }
    }
    assertArrayEquals(logps[1], logps[0], 0f);
    assertFalse(java.util.Arrays.equals(logps[2], logps[0]), "scale 2 differs from scale 4");
  }

  @Test
  void quantizedBaseLogProbsStayNearTheFloatBase() throws Exception {
    float[] base;
    try (DpoGraph g = build(DpoGraph.Reference.none(), null)) {
      base = g.micro(batch, 1f).policyLogps();
    }
    Map<String, float[]> init = LoraRun.pefInit(LoraRun.expectedShapes(config, spec), 42);
    for (QuantizedWeights.Algo algo : QuantizedWeights.Algo.values()) {
      try (DpoGraph g = build(DpoGraph.Reference.live(config), new LoraTraining(spec, 1f, false, algo))) {
        g.policyAdapters().assign(g.session(), init);
        assertTrue(g.variableNames().stream().noneMatch(n -> n.equals("policy/model.layers.0.mlp.up_proj.weight")),
            "no float32 copy of a quantized projection");
        DpoGraph.MicroResult r = g.micro(batch, 1f);
        assertArrayEquals(r.policyLogps(), r.referenceLogps(), 0f, "the reference runs on the same quantized base");
        double worst = 0;
        for (int i = 0; i < base.length; i++) {
          worst = Math.max(worst, Math.abs(r.policyLogps()[i] - base[i]) / Math.abs(base[i]));
        }
        System.out.printf("%s: worst relative log-prob difference %.3e%n", algo.configName(), worst);
        // Bound (docs/lora.md): the relative change of a summed log-prob is S times the weights' relative
        // rms error. int8 rounds uniformly with step absmax/127, absmax ~ 3.5 std for Gaussian rows: rms
        // error 3.5/127/sqrt(12) = 0.8%% of the std; nf4's rms error on Gaussian blocks is ~10%% (QLoRA).
        // With S <= 0.2 (measured 0.055 and 0.10 on this model: 4.4e-4 and 1.0e-2) the bounds are
        // 0.2 * 0.8%% = 1.6e-3 and 0.2 * 10%% = 2e-2.
        double bound = algo == QuantizedWeights.Algo.WEIGHT_ONLY_INT8 ? 1.6e-3 : 2e-2;
        assertTrue(worst <= bound, algo.configName() + ": relative log-prob difference " + worst);
        assertTrue(worst > 0, "quantization changes something");
      }
    }
  }

  @Test
  void loraPlusScalesTheStepOfTheBMatricesOnly() throws Exception {
    Map<String, float[]> plain = firstStepDelta(1f);
    Map<String, float[]> plus = firstStepDelta(4f);
    for (String n : plain.keySet()) {
      float[] a = plain.get(n);
      float[] b = plus.get(n);
      if (!LoraAdapters.isB(n)) {
        assertArrayEquals(a, b, 0f, n + ": A's step does not depend on lora_plus_scale");
        continue;
      }
      // Adam's first step is lr * m / (sqrt(v) + eps) with the same m and v: 4x the step, up to the
      // rounding of (p - step) - p (a few ulps of the weights, ~0.02-0.1: < 1e-8 absolute).
      for (int i = 0; i < a.length; i++) {
        assertEquals(4.0 * a[i], b[i], 2e-8, n + "[" + i + "]");
      }
    }
  }

  @Test
  void bf16O1RunsTheAdapterProductsInBfloat16OnFloat32Adapters() throws Exception {
    float[] baseBf16;
    try (DpoGraph g = build(new DpoObjective(SIGMOID), DpoGraph.Reference.none(), Precision.BFLOAT16, null)) {
      baseBf16 = g.micro(batch, 1f).policyLogps();
    }
    float[] loraFloat32;
    try (DpoGraph g = build(DpoGraph.Reference.none(), new LoraTraining(spec, 1f, false))) {
      g.policyAdapters().assign(g.session(), start.tensors());
      loraFloat32 = g.micro(batch, 1f).policyLogps();
    }
    Map<String, float[]> init = LoraRun.pefInit(LoraRun.expectedShapes(config, spec), 42);
    try (DpoGraph g = build(new DpoObjective(SIGMOID), DpoGraph.Reference.none(), Precision.BFLOAT16,
        new LoraTraining(spec, 1f, false))) {
      g.policyAdapters().assign(g.session(), init);
      // B = 0: (x A^T) 0 is an exact bfloat16 zero, cast and added exactly: the bf16 base's numbers.
      assertArrayEquals(baseBf16, g.micro(batch, 1f).policyLogps(), 0f, "zero B in bf16 is the bf16 base");
    }
    try (DpoGraph g = build(new DpoObjective(SIGMOID), DpoGraph.Reference.live(config), Precision.BFLOAT16,
        new LoraTraining(spec, 1f, true))) {
      loadStart(g);
      int layers = config.numHiddenLayers();
      // Per forward: the base's 7 projections per layer and the vocabulary projection (Bf16GraphTest),
      // plus two products (x A^T, then B) per adapted projection.
      long expected = 7L * layers + 1 + 2L * spec.targets().size() * layers;
      for (String pass : List.of("forward/", "reference_forward/")) {
        assertEquals(expected, Bf16GraphTest.count(Bf16GraphTest.ops(g, "MatMul", DataType.DT_BFLOAT16), pass), pass);
      }
      assertEquals(List.of(), Bf16GraphTest.ops(g, "VariableV2", DataType.DT_BFLOAT16_REF), "float32 adapters and state");
      DpoGraph.MicroResult r = g.micro(batch, 1f);
      assertArrayEquals(r.policyLogps(), r.referenceLogps(), 0f, "reference = starting policy, in bf16 too");
      double worst = 0;
      double worstBase = 0;
      for (int i = 0; i < loraFloat32.length; i++) {
        worst = Math.max(worst, Math.abs(r.policyLogps()[i] - loraFloat32[i]) / Math.abs(loraFloat32[i]));
      }
      System.out.printf("LoRA bf16 vs float32: worst relative log-prob difference %.3e%n", worst);
      // bfloat16 keeps 8 significand bits: each product's operands move by <= 2^-9 relative, so a product
      // by <= 2^-8 ~ 3.9e-3 relative; the summed log-probs move far less (errors of the many token terms
      // partly cancel). The bound is that one product's worst case; measured: see the printed line.
      assertTrue(worst > 0 && worst <= Math.scalb(1.0, -8), "relative log-prob difference " + worst);
      for (Map.Entry<String, float[]> e : g.accumulatedGradients().entrySet()) {
        double norm = Golden.l2(e.getValue());
        assertTrue(Double.isFinite(norm) && norm > 0, e.getKey() + " gradient norm " + norm);
      }
    }
  }

  @Test
  void otherTrainersTrainTheAdaptersToo() throws Exception {
    // KTO (rlhf_type kto): its KL rows run through the same adapted policy forward; CPO/ORPO/SimPO are
    // reference-free pair objectives (Reference.none()).
    Objective kto = new KtoObjective(KtoObjective.LossType.KTO, 0.1f, 1f, 1f);
    for (Map.Entry<Objective, DpoGraph.Reference> c : Map.of(kto, DpoGraph.Reference.live(config),
        new DpoObjective(LossSpec.builder("simpo").build()), DpoGraph.Reference.none()).entrySet()) {
      try (DpoGraph g = build(c.getKey(), c.getValue(), Precision.FLOAT32, new LoraTraining(spec, 1f, true))) {
        loadStart(g);
        // KTO reads one label per pair slot (1 desirable, 0 not); the pair objectives ignore them.
        Batch labelled = batch.withLabels(new float[] {1f, 0f, 1f, 0f}, batch.realTokens());
        assertTrue(Float.isFinite(g.micro(c.getKey() == kto ? labelled : batch, 1f).metric("loss")));
        for (Map.Entry<String, float[]> e : g.accumulatedGradients().entrySet()) {
          assertTrue(e.getKey().contains(".lora_"), "gradient of a base weight: " + e.getKey());
          assertTrue(Golden.l2(e.getValue()) > 0, e.getKey());
        }
      }
    }
  }

  /** O2 is refused (no reference copy to store in bfloat16); several devices work (LoraDataParallelTest). */
  @Test
  void o2IsRefused() {
    LoraTraining lora = new LoraTraining(spec, 1f, true);
    var o2 = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class, () -> new DpoGraph.Settings(
        config, new DpoObjective(SIGMOID), ADAM, 1.0, 2, DpoGraph.Reference.live(config), false, Replication.single(),
        Precision.BFLOAT16, Precision.BFLOAT16, lora));
    assertTrue(o2.getMessage().contains("O2"), o2.getMessage());
  }

  private static Map<String, float[]> firstStepDelta(float plusScale) throws Exception {
    try (DpoGraph g = build(DpoGraph.Reference.live(config), new LoraTraining(spec, plusScale, true))) {
      loadStart(g);
      g.micro(batch, 1f);
      g.apply(AdamW.stepScalars(1e-3, 0.0, ADAM, 1));
      Map<String, float[]> after = g.policyAdapters().read(g.session());
      after.replaceAll((n, v) -> {
        float[] d = new float[v.length];
        for (int i = 0; i < v.length; i++) {
          d[i] = v[i] - start.tensors().get(n)[i];
        }
        return d;
      });
      return after;
    }
  }
}
