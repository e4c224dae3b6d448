package dev.tfdpo.trainer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tfdpo.data.TokenIdsJsonl;
import dev.tfdpo.graphs.training.Batch;
import dev.tfdpo.graphs.training.DpoGraph;
import dev.tfdpo.graphs.training.ReferencePass;
import dev.tfdpo.io.hf.LlamaConfig;
import dev.tfdpo.io.hf.LlamaWeights;
import dev.tfdpo.io.safetensors.SafeTensorsReader;
import dev.tfdpo.ops.AdamW;
import dev.tfdpo.ops.LossSpec;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The three reference modes of {@link DpoGraph} on the golden batch (pairs 0-3, policy {@code
 * tiny-llama-a-mid2}, reference {@code tiny-llama-a}): which variables each graph holds, a fed
 * reference against the live one, reference-free numbers, the sync ops against a hand computation,
 * and the finiteness check before an update.
 */
class ReferenceGraphTest {

  static final Path MID2 = Golden.resolveShared("golden/policies/tiny-llama-a-mid2");
  static final AdamW.Hyper ADAM = new AdamW.Hyper(0.9f, 0.999f, 1e-8f);

  static LlamaConfig config;
  static Batch batch;
  static long policyBytes;

  @BeforeAll
  static void setUp() throws Exception {
    config = LlamaConfig.read(Golden.TINY);
    batch = new Collator(2).padded(TokenIdsJsonl.read(Golden.TOKENS).subList(0, 4));
    for (LlamaWeights.Entry e : LlamaWeights.of(config).entries()) {
      long n = 1;
      for (long d : e.shape()) {
        n *= d;
      }
      policyBytes += 4 * n;
    }
  }

  static DpoGraph build(LossSpec spec, DpoGraph.Reference reference) throws Exception {
    DpoGraph g = DpoGraph.build(new DpoGraph.Settings(config, spec, ADAM, 1.0, 2, reference));
    try (SafeTensorsReader pol = SafeTensorsReader.open(MID2)) {
      g.policyLoader().load(g.session(), pol);
    }
    if (reference.mode() == DpoGraph.ReferenceMode.LIVE) {
      try (SafeTensorsReader ref = SafeTensorsReader.open(Golden.TINY)) {
        g.referenceLoader().load(g.session(), ref);
      }
    }
    return g;
  }

  /**
   * A live float32 reference of the policy's model starts as an in-graph copy of the loaded policy
   * (ReferenceModel uses it instead of reading the file again): bitwise the loaded weights. Graphs
   * without a separate float32 reference have no such copy.
   */
  @Test
  void aLiveReferenceCopiedFromThePolicyEqualsTheLoadedOne() throws Exception {
    LossSpec spec = LossSpec.builder("sigmoid").beta(0.1f).build();
    try (DpoGraph g = DpoGraph.build(new DpoGraph.Settings(config, spec, ADAM, 1.0, 2, DpoGraph.Reference.live(config)))) {
      try (SafeTensorsReader pol = SafeTensorsReader.open(MID2)) {
        g.policyLoader().load(g.session(), pol);
      }
      assertTrue(g.copyReferenceFromPolicy());
      Map<String, float[]> policy = g.policyWeights();
      Map<String, float[]> reference = g.referenceWeights();
      assertEquals(policy.keySet(), reference.keySet());
      policy.forEach((name, w) -> assertArrayEquals(w, reference.get(name), 0f, name));
    }
    try (DpoGraph g = DpoGraph.build(new DpoGraph.Settings(config, spec, ADAM, 1.0, 2, DpoGraph.Reference.none()))) {
      assertFalse(g.copyReferenceFromPolicy(), "no reference variables");
    }
  }

  @Test
  void onlyALiveReferenceHasVariables() throws Exception {
    LossSpec spec = LossSpec.builder("sigmoid").build();
    for (DpoGraph.Reference r : List.of(DpoGraph.Reference.live(config), DpoGraph.Reference.fed(),
        DpoGraph.Reference.none())) {
      try (DpoGraph g = DpoGraph.build(new DpoGraph.Settings(config, spec, ADAM, 1.0, 2, r))) {
        List<String> names = g.variableNames();
        boolean anyReference = names.stream().anyMatch(n -> n.startsWith("reference"));
        boolean live = r.mode() == DpoGraph.ReferenceMode.LIVE;
        assertEquals(live, anyReference, r.mode() + ": " + names);
        // policy + gradient accumulators + Adam m and v (+ the reference when live)
        assertEquals((live ? 5 : 4) * policyBytes, g.variableBytes(), r.mode().toString());
        if (!live) {
          assertThrows(IllegalStateException.class, g::referenceLoader);
        }
      }
    }
  }

  @Test
  void fedReferenceFromThePassIsBitwiseTheLiveOne() throws Exception {
    // ld_alpha < 1: what is fed is the LD-weighted sum, as the loss reads it.
    LossSpec spec = LossSpec.builder("sigmoid").ldAlpha(0.5f).build();
    float[] fed;
    try (ReferencePass pass = new ReferencePass(config, 0.5f, 2);
        SafeTensorsReader ref = SafeTensorsReader.open(Golden.TINY)) {
      pass.load(ref);
      fed = pass.run(batch);
    }
    DpoGraph.MicroResult live;
    Map<String, float[]> liveGrads;
    try (DpoGraph g = build(spec, DpoGraph.Reference.live(config))) {
      live = g.micro(batch, 1f);
      liveGrads = g.accumulatedGradients();
    }
    try (DpoGraph g = build(spec, DpoGraph.Reference.fed())) {
      assertThrows(IllegalArgumentException.class, () -> g.micro(batch, 1f));
      DpoGraph.MicroResult r = g.micro(batch, 1f, fed);
      assertArrayEquals(live.metrics(), r.metrics(), 0f, "every metric, bitwise");
      assertArrayEquals(live.policyLogps(), r.policyLogps(), 0f);
      Map<String, float[]> grads = g.accumulatedGradients();
      for (String name : liveGrads.keySet()) {
        assertArrayEquals(liveGrads.get(name), grads.get(name), 0f, name);
      }
    }
    assertTrue(live.metric("rewards/chosen") != 0f, "the policy differs from the reference");
  }

  @Test
  void referenceFreeRewardsAreBetaTimesPolicyLogps() throws Exception {
    LossSpec sigmoid = LossSpec.builder("sigmoid").beta(0.1f).build();
    try (DpoGraph g = build(sigmoid, DpoGraph.Reference.none())) {
      DpoGraph.MicroResult r = g.micro(batch, 1f);
      double chosen = 0;
      double rejected = 0;
      for (int i = 0; i < 4; i++) {
        chosen += 0.1 * r.policyLogps()[i] / 4;
        rejected += 0.1 * r.policyLogps()[4 + i] / 4;
        assertEquals(0f, r.referenceLogps()[i]);
      }
      assertEquals(chosen, r.metric("rewards/chosen"), 1e-5 * Math.abs(chosen));
      assertEquals(rejected, r.metric("rewards/rejected"), 1e-5 * Math.abs(rejected));
      // sigmoid with a zero reference: -log sigmoid(beta * (pi_c - pi_r)), pair mean
      double loss = 0;
      for (int i = 0; i < 4; i++) {
        double z = 0.1 * (r.policyLogps()[i] - r.policyLogps()[4 + i]);
        loss += Math.log1p(Math.exp(-z)) / 4;
      }
      assertEquals(loss, r.metric("loss"), 1e-5 * loss);
    }
    // A loss that never reads the reference gives the same numbers with or without a live one.
    LossSpec simpo = LossSpec.builder("simpo").build();
    DpoGraph.MicroResult live;
    try (DpoGraph g = build(simpo, DpoGraph.Reference.live(config))) {
      live = g.micro(batch, 1f);
    }
    try (DpoGraph g = build(simpo, DpoGraph.Reference.none())) {
      assertArrayEquals(live.metrics(), g.micro(batch, 1f).metrics(), 0f);
    }
  }

  @Test
  void syncMixesThePolicyIntoTheReference() throws Exception {
    LossSpec spec = LossSpec.builder("sigmoid").build();
    Map<String, float[]> policy;
    Map<String, float[]> start;
    double alpha = 0.6;
    float a = (float) alpha;
    float keep = (float) (1 - alpha);
    try (DpoGraph g = build(spec, DpoGraph.Reference.synced(config, alpha))) {
      policy = g.policyWeights();
      start = g.referenceWeights();
      g.syncReference();
      Map<String, float[]> once = g.referenceWeights();
      g.syncReference();
      Map<String, float[]> twice = g.referenceWeights();
      int worstUlps = 0;
      for (String name : policy.keySet()) {
        float[] p = policy.get(name);
        float[] r0 = start.get(name);
        for (int i = 0; i < p.length; i++) {
          float r1 = r0[i] * keep + p[i] * a; // torch: ref.mul_(1 - a).add_(policy, alpha=a)
          float r2 = r1 * keep + p[i] * a;
          worstUlps = Math.max(worstUlps, ulps(r1, once.get(name)[i]));
          worstUlps = Math.max(worstUlps, ulps(r2, twice.get(name)[i]));
        }
      }
      System.out.printf("TR-DPO sync vs hand computation: worst %d ulp%n", worstUlps);
      assertEquals(0, worstUlps);
      assertFalse(java.util.Arrays.equals(start.get("model.norm.weight"), once.get("model.norm.weight")));
    }
    try (DpoGraph g = build(spec, DpoGraph.Reference.synced(config, 1.0))) {
      g.syncReference();
      Map<String, float[]> copied = g.referenceWeights();
      for (String name : policy.keySet()) {
        assertArrayEquals(policy.get(name), copied.get(name), 0f, name);
      }
      // Synced reference = policy: rewards are exactly 0, as at step 1.
      assertEquals(0f, g.micro(batch, 1f).metric("rewards/margins"));
    }
    try (DpoGraph g = build(spec, DpoGraph.Reference.live(config))) {
      assertThrows(IllegalStateException.class, g::syncReference);
    }
  }

  private static int ulps(float expected, float actual) {
    return Math.abs(Float.floatToIntBits(expected) - Float.floatToIntBits(actual));
  }

  @Test
  void aNonFiniteGradientIsNamedAndNotApplied() throws Exception {
    LossSpec spec = LossSpec.builder("sigmoid").build();
    try (DpoGraph g = build(spec, DpoGraph.Reference.live(config))) {
      Map<String, float[]> before = g.policyWeights();
      // A NaN gradient scale: the loss is finite, every accumulated gradient is NaN.
      DpoGraph.MicroResult r = g.micro(batch, Float.NaN);
      assertTrue(Float.isFinite(r.metric("loss")));
      NonFiniteStepException.Guard guard = new NonFiniteStepException.Guard(3, 1);
      guard.loss(r.metric("loss"), batch);
      DpoGraph.GradientNorm norm = g.gradientNorm();
      assertTrue(Float.isNaN(norm.total()));
      assertEquals("model.embed_tokens.weight", norm.firstNonFinite());
      // The trainer's end of step, with a learning rate that would move every weight.
      float[] scalars = AdamW.stepScalars(1e-3, 0.0, new AdamW.Hyper(0.9f, 0.999f, 1e-8f), 3);
      NonFiniteStepException e = assertThrows(NonFiniteStepException.class, () -> guard.update(g, scalars));
      assertEquals(3, e.step());
      assertTrue(e.getMessage().startsWith("step 3: non-finite gradient (first: model.embed_tokens.weight;"),
          e.getMessage());
      assertTrue(e.getMessage().endsWith("the last good weights are those after step 2"), e.getMessage());
      Map<String, float[]> after = g.policyWeights();
      for (String name : before.keySet()) {
        assertArrayEquals(before.get(name), after.get(name), 0f, name);
      }
    }
    // The same path with a finite gradient does update (so the check above could have failed).
    try (DpoGraph g = build(spec, DpoGraph.Reference.live(config))) {
      Map<String, float[]> before = g.policyWeights();
      DpoGraph.MicroResult fine = g.micro(batch, 1f);
      NonFiniteStepException.Guard healthy = new NonFiniteStepException.Guard(3, 1);
      healthy.loss(fine.metric("loss"), batch);
      float[] scalars = AdamW.stepScalars(1e-3, 0.0, new AdamW.Hyper(0.9f, 0.999f, 1e-8f), 3);
      assertTrue(Float.isFinite(healthy.update(g, scalars).total()));
      Map<String, float[]> after = g.policyWeights();
      for (String name : before.keySet()) {
        assertFalse(Arrays.equals(before.get(name), after.get(name)), name + " did not move");
      }
    }
    NonFiniteStepException.Guard lossGuard = new NonFiniteStepException.Guard(1, 2);
    lossGuard.loss(0.5f, batch);
    lossGuard.loss(Float.NaN, batch);
    DpoGraph.GradientNorm fine = new DpoGraph.GradientNorm(1f, List.of("w"), new float[] {1f});
    assertNull(fine.firstNonFinite());
    NonFiniteStepException e = assertThrows(NonFiniteStepException.class, () -> lossGuard.check(fine));
    assertEquals("step 1: non-finite loss (NaN in micro-batch 2 of 2, data rows [0, 1, 2, 3]); the update was"
        + " not applied and nothing was written over earlier outputs; the last good weights are the starting ones",
        e.getMessage());
    // Replicas: the gathered loss names the rows of every shard.
    NonFiniteStepException.Guard shardGuard = new NonFiniteStepException.Guard(1, 1);
    shardGuard.loss(Float.NaN, List.of(batch, new Collator(2).padded(TokenIdsJsonl.read(Golden.TOKENS).subList(4, 6))));
    NonFiniteStepException sharded = assertThrows(NonFiniteStepException.class, () -> shardGuard.check(fine));
    assertTrue(sharded.getMessage().contains("data rows [0, 1, 2, 3, 4, 5])"), sharded.getMessage());
  }
}
