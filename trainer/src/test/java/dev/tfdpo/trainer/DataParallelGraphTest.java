package dev.tfdpo.trainer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tfdpo.data.ListPairSource;
import dev.tfdpo.data.TokenIdsJsonl;
import dev.tfdpo.data.TokenizedPair;
import dev.tfdpo.graphs.Recompute;
import dev.tfdpo.graphs.training.Batch;
import dev.tfdpo.graphs.training.DpoGraph;
import dev.tfdpo.graphs.training.Replication;
import dev.tfdpo.io.hf.LlamaConfig;
import dev.tfdpo.io.safetensors.SafeTensorsReader;
import dev.tfdpo.ops.AdamW;
import dev.tfdpo.ops.LossSpec;
import java.nio.file.Path;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.tensorflow.GraphOperation;

/**
 * Two data-parallel replicas on two virtual CPU devices against one device, on the training graph:
 * where every operation runs, and that 2 replicas x 2 pairs train exactly like 1 device x 4 pairs
 * (TRL's sigmoid loss is a mean over pairs, so the sum of the replicas' half-weighted gradients is the
 * whole micro-batch's gradient).
 */
class DataParallelGraphTest {

  static final AdamW.Hyper ADAM = new AdamW.Hyper(0.9f, 0.999f, 1e-8f);
  static DpoGraph one;
  static DpoGraph two;
  /** Two replicas with recompute (full): each replica's recomputed copies must be placed on its device too. */
  static DpoGraph twoRecompute;
  static List<TokenizedPair> pairs;
  @TempDir static Path start;

  @BeforeAll
  static void build() throws Exception {
    LlamaConfig config = LlamaConfig.read(Golden.TINY);
    LossSpec sigmoid = LossSpec.builder("sigmoid").beta(0.1f).build();
    one = DpoGraph.build(settings(config, sigmoid, DpoGraph.Reference.live(config), Replication.single()));
    two = DpoGraph.build(settings(config, sigmoid, DpoGraph.Reference.live(config), Replication.cpus(2)));
    twoRecompute = DpoGraph.build(settings(config, sigmoid, DpoGraph.Reference.live(config), Replication.cpus(2))
        .withRecompute(Recompute.Granularity.FULL));
    for (DpoGraph g : List.of(one, two, twoRecompute)) {
      try (SafeTensorsReader w = SafeTensorsReader.open(Golden.TINY)) {
        g.policyLoader().load(g.session(), w);
        g.referenceLoader().load(g.session(), w);
      }
    }
    pairs = TokenIdsJsonl.read(Golden.TOKENS);
    one.saveState(start.resolve("one"));
    two.saveState(start.resolve("two"));
  }

  /** Both graphs back to the fixture's weights and zero AdamW moments. */
  static void reload() {
    one.restoreState(start.resolve("one"));
    two.restoreState(start.resolve("two"));
  }

  static DpoGraph.Settings settings(LlamaConfig c, LossSpec loss, DpoGraph.Reference ref, Replication r) {
    return new DpoGraph.Settings(c, new dev.tfdpo.graphs.training.DpoObjective(loss), ADAM, 1.0, 2, ref, false, r);
  }

  @AfterAll
  static void close() {
    one.close();
    two.close();
    twoRecompute.close();
  }

  static Batch padded(int from, int to) {
    return new Collator(2).padded(pairs.subList(from, to));
  }

  /**
   * Replicas with their own copies (what GPUs and gRPC tasks get, {@link Replication#ownCopies}), here on
   * two CPU devices: replica 1 reads its own copies of the policy and the live reference and updates its
   * policy copy with its own AdamW moments from the all-reduced gradient, clipped by replica 0's norm.
   * 4 steps with clipping active train bitwise as the shared weights do, and the copy and its moments
   * equal replica 0's to the bit after them.
   */
  @Test
  void replicasWithTheirOwnCopiesTrainBitwiseAsSharedWeights() throws Exception {
    LlamaConfig config = LlamaConfig.read(Golden.TINY);
    LossSpec sigmoid = LossSpec.builder("sigmoid").beta(0.1f).build();
    try (DpoGraph own = DpoGraph.build(settings(config, sigmoid, DpoGraph.Reference.live(config),
        Replication.cpus(2).withOwnCopies(true)))) {
      assertTrue(own.mirroredVariableBytes() > 0, "replica 1 holds copies");
      assertPlacedPerReplica(own);
      try (SafeTensorsReader w = SafeTensorsReader.open(Golden.TINY)) {
        own.referenceLoader().load(own.session(), w);
      }
      reload();
      own.restoreState(start.resolve("two"));
      for (int step = 1; step <= 4; step++) {
        List<Batch> shards = List.of(padded(4 * step - 4, 4 * step - 2), padded(4 * step - 2, 4 * step));
        assertEquals(two.micro(shards, 1f, null).metric("loss"), own.micro(shards, 1f, null).metric("loss"), 0f);
        float[] scalars = AdamW.stepScalars(5e-4, 0.1, ADAM, step);
        assertEquals(two.apply(scalars), own.apply(scalars), 0f, "gradient norm, step " + step);
      }
      assertEquals(0.0, worstRelative(two.policyWeights(), own.policyWeights()), 0.0);
      for (String part : List.of("policy/", "optimizer/adam_m/", "optimizer/adam_v/")) {
        assertEquals(0.0, worstRelative(own.variableValues(part), own.variableValues("replica_1/" + part)), 0.0, part);
      }
    }
  }

  @Test
  void everyOperationOfTheSecondReplicaRunsOnItsDevice() {
    assertPlacedPerReplica(two);
  }

  /**
   * With recompute the second replica's backward pass is a chain of block-wise gradient calls and
   * recomputed copies of its blocks: all of it is still on its device, and one step trains as without
   * recompute (loss bitwise: same forward; gradient norm and weights within RecomputeTest's 1e-6
   * relative bound for a different summation order of gradient contributions).
   */
  @Test
  void withRecomputeEveryOperationOfTheSecondReplicaRunsOnItsDeviceAndTrainsTheSame() {
    assertPlacedPerReplica(twoRecompute);
    long plainOps = replicaOperations(two);
    long recomputeOps = replicaOperations(twoRecompute);
    // The recomputed copies of replica 1's decoder layers are its own operations, on top of the plain ones.
    assertTrue(recomputeOps > plainOps, "replica 1: " + recomputeOps + " operations with recompute, " + plainOps
        + " without");
    reload();
    twoRecompute.restoreState(start.resolve("two"));
    Collator collator = new Collator(2);
    List<Batch> shards = List.of(collator.padded(pairs.subList(0, 2)), collator.padded(pairs.subList(2, 4)));
    float plainLoss = two.micro(shards, 1f, null).metric("loss");
    float recomputeLoss = twoRecompute.micro(shards, 1f, null).metric("loss");
    assertEquals(plainLoss, recomputeLoss, 0f);
    float[] scalars = AdamW.stepScalars(5e-4, 0.0, ADAM, 1);
    float plainNorm = two.apply(scalars);
    float recomputeNorm = twoRecompute.apply(scalars);
    assertEquals(plainNorm, recomputeNorm, 1e-6 * plainNorm);
    double weights = worstRelative(two.policyWeights(), twoRecompute.policyWeights());
    System.out.printf("2 replicas, recompute full vs plain, 1 step: grad norm %.3g rel, weights %.3g rel%n",
        Math.abs(plainNorm - recomputeNorm) / plainNorm, weights);
    assertTrue(weights <= 1e-6, "weights after one step: " + weights);
  }

  /** The number of operations of replica 1. */
  static long replicaOperations(DpoGraph graph) {
    long n = 0;
    for (Iterator<GraphOperation> it = graph.session().graph().operations(); it.hasNext(); ) {
      n += it.next().name().startsWith("replica_1/") ? 1 : 0;
    }
    return n;
  }

  /** Every operation is on CPU:0 or CPU:1 (or left to colocation), replica 1's on CPU:1, with its backward. */
  static void assertPlacedPerReplica(DpoGraph graph) {
    int onSecond = 0;
    int gradientsOnSecond = 0;
    int collectives = 0;
    int colocated = 0;
    for (Iterator<GraphOperation> it = graph.session().graph().operations(); it.hasNext(); ) {
      GraphOperation op = it.next();
      String device = op.device();
      // Unplaced: only the few gradient ops TensorFlow colocates with their forward input (_class), where
      // the placer puts them (the Shape of a gathered weight, next to the weight).
      colocated += device.isEmpty() ? 1 : 0;
      assertTrue(device.isEmpty() || device.equals("/device:CPU:0") || device.equals("/device:CPU:1"),
          op.name() + " on '" + device + "'");
      if (op.name().startsWith("replica_1/") && !device.isEmpty()) {
        assertEquals("/device:CPU:1", device, op.name() + " belongs to replica 1");
      }
      if (device.equals("/device:CPU:1")) {
        onSecond++;
        // The backward pass: TensorFlow's C++ gradient builder names its ops after the Gradients scope.
        gradientsOnSecond += op.name().contains("Gradients") || op.name().contains("gradients") ? 1 : 0;
      }
      if (op.type().equals("CollectiveReduceV2")) {
        collectives++;
        // Every collective has a timeout (TensorFlow's default, 0, waits forever) and the CPU ring.
        assertEquals(Replication.DEFAULT_TIMEOUT_SECONDS, op.attributes().getAttrFloat("timeout_seconds"), 0f);
        assertEquals("ring", op.attributes().getAttrString("communication_hint"));
      }
    }
    assertTrue(gradientsOnSecond > 100, gradientsOnSecond + " gradient ops of " + onSecond + " on CPU:1");
    assertTrue(colocated <= 16, colocated + " operations left to colocation");
    // The tiny model's gradients (~1 MB) fit one 4 MB bucket: one collective per replica per step.
    assertEquals(2, collectives);
  }

  /**
   * The data-parallel machinery adds no rounding of its own: 16 steps of 2 replicas x 2 pairs equal, to
   * the bit, one device accumulating the same two shards one after the other with weight 1/2 each (the
   * all-reduce of two replicas is one float addition, as the second accumulation is).
   */
  @Test
  void replicasEqualOneDeviceAccumulatingTheSameShardsBitwise() {
    reload();
    Collator collator = new Collator(2);
    for (int step = 1; step <= 16; step++) {
      int from = (4 * (step - 1)) % pairs.size();
      Batch s0 = collator.padded(pairs.subList(from, from + 2));
      Batch s1 = collator.padded(pairs.subList(from + 2, from + 4));
      float l0 = one.micro(s0, 0.5f).metric("loss");
      float l1 = one.micro(s1, 0.5f).metric("loss");
      DpoGraph.MicroResult b = two.micro(List.of(s0, s1), 1f, null);
      assertEquals((float) (0.5 * l0 + 0.5 * l1), b.metric("loss"), 0f, "step " + step);
      float[] scalars = AdamW.stepScalars(5e-4, 0.0, ADAM, step);
      assertEquals(one.apply(scalars), two.apply(scalars), 0f, "gradient norm, step " + step);
    }
    assertEquals(0.0, worstRelative(one.policyWeights(), two.policyWeights()), 0.0);
  }

  /**
   * 16 optimizer steps of 4 pairs (pairs 4i..4i+3 of the golden token file), one device vs 2 replicas
   * with 2 pairs each, every batch padded to one length (256, as ShapeBuckets would). The only
   * difference is float ordering (above: no rounding of the replicas' own): oneDNN's matmuls over 4
   * rows vs 8 rows may sum in another order, so a per-sequence log-prob sum (~-1100, one float32 ulp
   * 1.2e-4) can move by an ulp. Bound: rewards are beta (0.1) times a difference of two such sums (up to
   * 2.4e-5 per pair), and the sigmoid loss moves by at most that (|d log sigmoid / dx| <= 1), averaged
   * over pairs: 2.4e-5; we require 1e-5 (measured 3e-6 with oneDNN on). Weights: measured 3.4e-7 relative;
   * required 1e-6 (AdamW's update is lr * sign-like m/sqrt(v), so a relative gradient change of 3e-6
   * moves a weight far less than its size).
   */
  @Test
  void twoReplicasOfTwoPairsTrainAsOneDeviceOfFour() {
    double[] worst = train16(new Collator(2, new ShapeBuckets(256, 1)));
    System.out.printf("2 replicas vs 1 device, 16 steps, same padded length: |dloss| %.2e, grad norm %.2e rel, "
        + "weights %.2e rel (worst tensor, L2)%n", worst[0], worst[1], worst[2]);
    assertTrue(worst[0] <= 1e-5, "loss within 1e-5: " + worst[0]);
    assertTrue(worst[2] <= 1e-6, "weights within 1e-6 relative: " + worst[2]);
  }

  /**
   * The same 16 steps, each shard padded to its own longest row (TRL's collator on each device): the
   * log-prob sums also run over another length. Same bound for the loss (measured 6e-6); weights
   * measured 1.2e-6 relative, required 5e-6.
   */
  @Test
  void ownPaddingChangesOnlyTheSummationOrder() {
    double[] worst = train16(new Collator(2));
    System.out.printf("2 replicas vs 1 device, 16 steps, own padding: |dloss| %.2e, grad norm %.2e rel, "
        + "weights %.2e rel%n", worst[0], worst[1], worst[2]);
    assertTrue(worst[0] <= 2.4e-5, "loss within 2.4e-5: " + worst[0]);
    assertTrue(worst[2] <= 5e-6, "weights within 5e-6 relative: " + worst[2]);
  }

  /** Trains both graphs 16 steps from the fixture's weights; worst |dloss|, grad-norm and weight differences. */
  private static double[] train16(Collator collator) {
    reload();
    double worstLoss = 0;
    double worstNorm = 0;
    for (int step = 1; step <= 16; step++) {
      int from = (4 * (step - 1)) % pairs.size();
      DpoGraph.MicroResult a = one.micro(collator.padded(pairs.subList(from, from + 4)), 1f);
      DpoGraph.MicroResult b = two.micro(List.of(collator.padded(pairs.subList(from, from + 2)),
          collator.padded(pairs.subList(from + 2, from + 4))), 1f, null);
      worstLoss = Math.max(worstLoss, Math.abs(a.metric("loss") - b.metric("loss")));
      for (int s = 0; s < 8; s++) {
        // Per-sequence log-probs come back in one batch's order (all chosen, then all rejected).
        assertEquals(a.policyLogps()[s], b.policyLogps()[s], 1e-3, "sequence " + s);
      }
      float[] scalars = AdamW.stepScalars(5e-4, 0.0, ADAM, step);
      float na = one.apply(scalars);
      float nb = two.apply(scalars);
      worstNorm = Math.max(worstNorm, Math.abs(na - nb) / na);
    }
    return new double[] {worstLoss, worstNorm, worstRelative(one.policyWeights(), two.policyWeights())};
  }

  /**
   * A short last batch: 3 pairs as shards of 2 and 1 (each replica weighted by its pairs), and 1 pair on
   * replica 0 alone (replica 1 idle with weight 0), give one device's gradient of the same pairs.
   */
  @Test
  void unevenAndMissingShardsWeightByPairs() {
    reload();
    one.micro(padded(40, 43), 1f);
    Map<String, float[]> whole = one.accumulatedGradients();
    one.apply(new float[] {1f, 0f, 1f}); // zero step size: clears the accumulators only
    two.micro(List.of(padded(40, 42), padded(42, 43)), 1f, null);
    Map<String, float[]> split = two.accumulatedGradients();
    two.apply(new float[] {1f, 0f, 1f});
    assertTrue(worstRelative(whole, split) <= 1e-5, "3 pairs as 2 + 1: " + worstRelative(whole, split));

    DpoGraph.MicroResult a = one.micro(padded(50, 51), 1f);
    Map<String, float[]> single = one.accumulatedGradients();
    one.apply(new float[] {1f, 0f, 1f});
    DpoGraph.MicroResult b = two.micro(List.of(padded(50, 51)), 1f, null);
    Map<String, float[]> idle = two.accumulatedGradients();
    two.apply(new float[] {1f, 0f, 1f});
    // Replica 0 runs the same kernels on the same batch and replica 1 adds exact zeros: bitwise equal.
    assertEquals(a.metric("loss"), b.metric("loss"), 0f);
    assertEquals(0.0, worstRelative(single, idle), 0.0);
  }

  /**
   * The evaluator with 2 replicas (2 pairs each) against one device with 4-pair batches, on pairs 0-22
   * (the last batch short: 3 pairs as 2 + 1): the same numbers within the bounds of the 16-step test
   * (eval_loss 1e-5; rewards, a beta-scaled difference of log-prob sums, 1e-5), accuracies exact.
   */
  @Test
  void shardedEvaluationMatchesOneDevice() {
    reload();
    Collator collator = new Collator(2);
    Map<String, Double> a = new Evaluator(one, new ListPairSource(pairs.subList(0, 23)), collator, 4, "steps", 1)
        .evaluate();
    Map<String, Double> b = new Evaluator(two, new ListPairSource(pairs.subList(0, 23)), collator, 2, "steps", 1)
        .evaluate();
    assertEquals(a.keySet(), b.keySet());
    assertEquals(a.get("eval_loss"), b.get("eval_loss"), 1e-5);
    assertEquals(a.get("eval_rewards/margins"), b.get("eval_rewards/margins"), 1e-5);
    assertEquals(a.get("eval_rewards/accuracies"), b.get("eval_rewards/accuracies"), 0.0);
    assertEquals(a.get("eval_mean_token_accuracy"), b.get("eval_mean_token_accuracy"), 1e-7);
  }

  /** Per tensor, |a - b| / |a| in L2; the worst over the tensors. */
  static double worstRelative(Map<String, float[]> a, Map<String, float[]> b) {
    assertEquals(a.keySet(), b.keySet());
    double worst = 0;
    for (String name : a.keySet()) {
      float[] x = a.get(name);
      float[] y = b.get(name);
      double diff = 0;
      double norm = 0;
      for (int i = 0; i < x.length; i++) {
        diff += (double) (x[i] - y[i]) * (x[i] - y[i]);
        norm += (double) x[i] * x[i];
      }
      worst = Math.max(worst, norm == 0 ? Math.sqrt(diff) : Math.sqrt(diff / norm));
    }
    return worst;
  }

}
