package dev.tfdpo.trainer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.tfdpo.data.TokenIdsJsonl;
import dev.tfdpo.data.TokenizedPair;
import dev.tfdpo.graphs.training.Batch;
import dev.tfdpo.graphs.training.DpoGraph;
import dev.tfdpo.graphs.training.DpoObjective;
import dev.tfdpo.graphs.training.Replication;
import dev.tfdpo.graphs.training.TrainingGraph;
import dev.tfdpo.io.hf.LlamaConfig;
import dev.tfdpo.io.safetensors.SafeTensorsReader;
import dev.tfdpo.ops.AdamW;
import dev.tfdpo.ops.LossSpec;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * A fused step (one micro-batch: gradient, norms and the gated update in one session run, no gradient
 * accumulators; what the trainer builds for {@code gradient_accumulation_steps} 1 on one device) against
 * the accumulating graph's micro-batch, norm and apply: the same numbers to the bit, a model's worth of
 * variables less, and a non-finite step that changes nothing.
 */
class FusedStepTest {

  static final AdamW.Hyper ADAM = new AdamW.Hyper(0.9f, 0.999f, 1e-8f);
  static DpoGraph accumulating;
  static DpoGraph fused;
  static List<TokenizedPair> pairs;
  @org.junit.jupiter.api.io.TempDir static java.nio.file.Path tmp;

  @BeforeAll
  static void build() throws Exception {
    LlamaConfig config = LlamaConfig.read(Golden.TINY);
    LossSpec sigmoid = LossSpec.builder("sigmoid").beta(0.1f).build();
    // max_grad_norm 0.5: below the fixture's gradient norms, so the clipping coefficient is in play.
    DpoGraph.Settings s = new DpoGraph.Settings(config, new DpoObjective(sigmoid), ADAM, 0.5, 2,
        DpoGraph.Reference.live(config), false, Replication.single());
    accumulating = DpoGraph.build(s);
    fused = DpoGraph.build(s.withFusedStep(true));
    for (DpoGraph g : List.of(accumulating, fused)) {
      try (SafeTensorsReader w = SafeTensorsReader.open(Golden.TINY)) {
        g.policyLoader().load(g.session(), w);
        g.referenceLoader().load(g.session(), w);
      }
    }
    pairs = TokenIdsJsonl.read(Golden.TOKENS);
  }

  @AfterAll
  static void close() {
    accumulating.close();
    fused.close();
  }

  static List<Batch> batch(int step) {
    return List.of(new Collator(2).padded(pairs.subList(4 * step, 4 * step + 4)));
  }

  /** Four steps with clipping and weight decay: loss, norms and weights bitwise; no accumulators. */
  @Test
  void fusedStepsTrainBitwiseAsAccumulatedOnesWithoutAccumulators() {
    for (int step = 1; step <= 4; step++) {
      float[] scalars = AdamW.stepScalars(1e-3, 0.01, ADAM, step);
      TrainingGraph.Step a = accumulating.step(batch(step), null, scalars);
      TrainingGraph.Step f = fused.step(batch(step), null, scalars);
      assertArrayEquals(a.micro().metrics(), f.micro().metrics(), "step " + step + " metrics");
      assertEquals(a.norm().total(), f.norm().total(), 0f, "step " + step + " gradient norm");
      assertArrayEquals(a.norm().perParameter(), f.norm().perParameter(), "step " + step);
      assertEquals(a.norm().names(), f.norm().names());
    }
    Map<String, float[]> want = accumulating.policyWeights();
    Map<String, float[]> got = fused.policyWeights();
    assertEquals(want.keySet(), got.keySet());
    long trainableBytes = 0;
    for (String name : want.keySet()) {
      assertArrayEquals(want.get(name), got.get(name), name);
      trainableBytes += 4L * want.get(name).length;
    }
    // Exactly the accumulators (one float32 copy of every trained weight) are gone.
    assertEquals(accumulating.variableBytes() - trainableBytes, fused.variableBytes());
    assertThrows(IllegalStateException.class, () -> fused.micro(batch(1), 1f, null));
    assertThrows(IllegalStateException.class, fused::gradientNorm);
  }

  /**
   * Learning rate 1e30: step 1 is finite and moves every weight by about 1e30, so step 2 overflows.
   * The fused step 2 reports the non-finite values and, its update gated off, leaves every weight as
   * step 1 left it: the checkpointed state (weights and AdamW's moments) is byte for byte the same.
   */
  @Test
  void aNonFiniteFusedStepChangesNothing() {
    java.nio.file.Path dir = tmp.resolve("non-finite");
    try {
      java.nio.file.Files.createDirectories(dir);
      fused.saveState(dir.resolve("start"));
      accumulating.saveState(dir.resolve("start-acc"));
      float[] huge = AdamW.stepScalars(1e30, 0.0, ADAM, 1);
      TrainingGraph.Step one = fused.step(batch(1), null, huge);
      assertEquals(null, one.norm().firstNonFinite(), "step 1 starts from finite weights");
      Map<String, float[]> afterOne = fused.policyWeights();
      fused.saveState(dir.resolve("one"));
      TrainingGraph.Step two = fused.step(batch(2), null, AdamW.stepScalars(1e-3, 0.0, ADAM, 2));
      boolean finite = Float.isFinite(two.micro().metric("loss")) && two.norm().firstNonFinite() == null;
      assertFalse(finite, "step 2 overflows");
      Map<String, float[]> afterTwo = fused.policyWeights();
      for (String name : afterOne.keySet()) {
        assertArrayEquals(afterOne.get(name), afterTwo.get(name), name + " changed by a non-finite step");
      }
      fused.saveState(dir.resolve("two"));
      try (var files = java.nio.file.Files.list(dir)) {
        List<java.nio.file.Path> data = files.filter(p -> p.getFileName().toString().startsWith("one.data")).toList();
        assertFalse(data.isEmpty());
        for (java.nio.file.Path p : data) {
          java.nio.file.Path other = dir.resolve(p.getFileName().toString().replaceFirst("^one", "two"));
          assertArrayEquals(java.nio.file.Files.readAllBytes(p), java.nio.file.Files.readAllBytes(other),
              "weights and moments after the non-finite step: " + p.getFileName());
        }
      }
      assertNotNull(two.norm().names());
    } catch (java.io.IOException e) {
      throw new java.io.UncheckedIOException(e);
    } finally {
      fused.restoreState(dir.resolve("start"));
      accumulating.restoreState(dir.resolve("start-acc"));
    }
  }
}
