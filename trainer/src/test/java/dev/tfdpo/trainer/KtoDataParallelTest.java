package dev.tfdpo.trainer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tfdpo.data.TokenIdsJsonl;
import dev.tfdpo.data.TokenizedPair;
import dev.tfdpo.graphs.training.Batch;
import dev.tfdpo.graphs.training.DpoGraph;
import dev.tfdpo.graphs.training.KtoObjective;
import dev.tfdpo.graphs.training.Replication;
import dev.tfdpo.io.hf.LlamaConfig;
import dev.tfdpo.io.safetensors.SafeTensorsReader;
import dev.tfdpo.ops.AdamW;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * KTO with 2 replicas x 2 rows as TRL's KTOTrainer with 2 processes: each process's KL estimate is the
 * mean of its batch's KL rows, the point is {@code max(0, mean of the two)}, and the logged class metrics
 * are class sums over both processes divided by class counts. Each row is a (completion, KL completion)
 * pair of the tiny fixture; the reference log-probs are fed, chosen so that the shards' KL means are
 * +2 and -1.5: the shared point is 0.25, where each shard alone would clamp to 2 and 0.
 */
class KtoDataParallelTest {

  static final AdamW.Hyper ADAM = new AdamW.Hyper(0.9f, 0.999f, 1e-8f);
  static final float BETA = 0.5f;
  static final float DESIRABLE_WEIGHT = 1.0f;
  static final float UNDESIRABLE_WEIGHT = 1.5f;
  static final float[] LABELS_0 = {1, 0};
  static final float[] LABELS_1 = {1, 1}; // a shard without undesirable rows: its class metrics are NaN
  /** policy - reference of each shard's rows and KL rows (KL means +2 and -1.5). */
  static final double[][] ROW_RATIOS = {{0.5, -0.7}, {1.2, 0.1}};
  static final double[][] KL_RATIOS = {{3, 1}, {-1, -2}};

  static LlamaConfig config;
  static List<TokenizedPair> pairs;
  static DpoGraph one;
  static DpoGraph two;

  @BeforeAll
  static void build() throws Exception {
    config = LlamaConfig.read(Golden.TINY);
    pairs = TokenIdsJsonl.read(Golden.TOKENS);
    one = graph(Replication.single());
    two = graph(Replication.cpus(2));
  }

  @AfterAll
  static void close() {
    one.close();
    two.close();
  }

  @Test
  void lossAndMetricsAreTrlsWithTwoProcesses() throws Exception {
    Batch s0 = shard(0, LABELS_0);
    Batch s1 = shard(2, LABELS_1);
    Batch whole = new Collator(2).padded(pairs.subList(0, 4)).withLabels(new float[] {1, 0, 1, 1}, 0);
    // The policy's log-probs at the start (the step below changes no weight before apply).
    float[] p0 = one.micro(s0, 0f, new float[4]).policyLogps(); // [rows, KL rows]
    float[] p1 = one.micro(s1, 0f, new float[4]).policyLogps();
    float[] r0 = reference(p0, 0);
    float[] r1 = reference(p1, 1);
    DpoGraph.MicroResult b = two.micro(List.of(s0, s1), 1f, List.of(r0, r1));

    // By hand, in double from the graph's policy log-probs and the fed reference: policy - reference of
    // two floats within a factor 2 of each other is exact in float32 (Sterbenz), so the graph's ratios are
    // these; about ROW_RATIOS and KL_RATIOS up to the rounding of the fed reference.
    float[][] p = {p0, p1};
    float[][] ref = {r0, r1};
    double z = Math.max(0, 0.5 * (klMean(p0, r0) + klMean(p1, r1))); // about 0.25
    double loss = 0;
    double chosen = 0;
    double rejected = 0;
    float[][] labels = {LABELS_0, LABELS_1};
    for (int k = 0; k < 2; k++) {
      for (int i = 0; i < 2; i++) {
        double r = (double) p[k][i] - ref[k][i];
        boolean desirable = labels[k][i] == 1;
        loss += desirable ? DESIRABLE_WEIGHT * (1 - sigmoid(BETA * (r - z)))
            : UNDESIRABLE_WEIGHT * (1 - sigmoid(BETA * (z - r)));
        chosen += desirable ? BETA * r : 0;
        rejected += desirable ? 0 : BETA * r;
      }
    }
    loss /= 4; // the mean over the global batch's 4 rows (equal shards: the mean of the shard means)
    chosen /= 3; // 3 desirable rows over both shards
    // The graph's float32 rounding of means and sigmoids of values below 2: a few ulp of 1, 1e-6 bounds it.
    assertEquals(0.25, z, 1e-4, "the fed reference makes the shards' KL means +2 and -1.5");
    assertEquals(z, b.metric("kl"), 1e-6, "kl point: the mean of the replicas' estimates, then clamped");
    assertEquals(loss, b.metric("loss"), 1e-6, "loss");
    assertEquals(chosen, b.metric("rewards/chosen"), 1e-6, "rewards/chosen: sum over 3 desirable rows / 3");
    assertEquals(rejected, b.metric("rewards/rejected"), 1e-6, "rewards/rejected: shard 0's one row");
    assertEquals(chosen - rejected, b.metric("rewards/margins"), 2e-6, "margins");

    // One device on the whole 4-row batch has the same KL point (equal shards: the mean of the shard means
    // is the mean of all KL rows), so the same loss, metrics and gradient, to float32 summation order.
    float[] r = {r0[0], r0[1], r1[0], r1[1], r0[2], r0[3], r1[2], r1[3]};
    DpoGraph.MicroResult a = one.micro(whole, 1f, r);
    for (String name : KtoObjective.METRICS) {
      // Sums of 2+2 values vs 4, a few ulp of values up to ~40 (logps): 2e-5 relative.
      assertEquals(a.metric(name), b.metric(name), 2e-5 * Math.max(1, Math.abs(a.metric(name))), name);
    }
    float[] scalars = AdamW.stepScalars(5e-4, 0.01, ADAM, 1);
    float na = one.apply(scalars);
    float nb = two.apply(scalars);
    assertTrue(na > 0);
    // The replicas' gradients are scaled by 1/2 and summed: rounding of the order of 1e-6 relative.
    assertEquals(na, nb, 1e-5 * na, "gradient norm");
    assertEquals(0.0, DataParallelGraphTest.worstRelative(one.policyWeights(), two.policyWeights()), 1e-5,
        "weights after one step");
  }

  @Test
  void lastGlobalBatchOfOneShard() {
    // A last global batch of one shard: the idle replica runs on a copy of it, so the KL point is its own.
    Batch s0 = shard(4, LABELS_0);
    float[] p0 = one.micro(s0, 0f, new float[4]).policyLogps();
    float[] r0 = reference(p0, 0);
    DpoGraph.MicroResult a = one.micro(s0, 0f, r0);
    DpoGraph.MicroResult b = two.micro(List.of(s0), 0f, List.of(r0));
    for (String name : KtoObjective.METRICS) {
      assertEquals(a.metric(name), b.metric(name), 1e-4 * Math.max(1, Math.abs(a.metric(name))), name); // weights 1e-5 apart after the step above
    }
    assertEquals(klMean(p0, r0), b.metric("kl"), 1e-5); // about 2: shard 0's own estimate
  }

  /** Shard k's reference: the policy log-probs minus {@link #ROW_RATIOS} and {@link #KL_RATIOS}. */
  private static float[] reference(float[] policy, int k) {
    return new float[] {(float) (policy[0] - ROW_RATIOS[k][0]), (float) (policy[1] - ROW_RATIOS[k][1]),
        (float) (policy[2] - KL_RATIOS[k][0]), (float) (policy[3] - KL_RATIOS[k][1])};
  }

  private static Batch shard(int from, float[] labels) {
    return new Collator(2).padded(pairs.subList(from, from + 2)).withLabels(labels, 0);
  }

  /** The mean of a shard's KL rows' policy - reference, in double. */
  private static double klMean(float[] policy, float[] reference) {
    return ((double) policy[2] - reference[2] + (double) policy[3] - reference[3]) / 2;
  }

  private static double sigmoid(double x) {
    return 1 / (1 + Math.exp(-x));
  }

  private static DpoGraph graph(Replication r) throws Exception {
    KtoObjective kto = new KtoObjective(KtoObjective.LossType.KTO, BETA, DESIRABLE_WEIGHT, UNDESIRABLE_WEIGHT);
    DpoGraph g = DpoGraph.build(
        new DpoGraph.Settings(config, kto, ADAM, 1.0, 2, DpoGraph.Reference.fed(), false, r));
    try (SafeTensorsReader w = SafeTensorsReader.open(Golden.TINY)) {
      g.policyLoader().load(g.session(), w);
    }
    return g;
  }
}
