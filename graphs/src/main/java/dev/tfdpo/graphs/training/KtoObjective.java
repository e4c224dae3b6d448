package dev.tfdpo.graphs.training;

import dev.tfdpo.ops.CompletionLogProbs;
import java.util.List;
import org.tensorflow.Operand;
import org.tensorflow.op.Ops;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt32;

/**
 * KTO (Ethayarajh et al. 2024, arXiv:2402.01306, eq. 7) as TRL 1.13's KTOTrainer computes it, as an
 * {@link Objective}.
 *
 * <p>Layout: a micro-batch of N rows is N pair slots; slot i's first sequence is row i's completion and
 * its second the row's KL completion (a mismatched completion of the same micro-batch), so the batch's
 * sequences are {@code [rows (N), KL rows (N)]}. {@link BatchInputs#labels()} holds 1 for a desirable
 * row, 0 for an undesirable one.
 *
 * <p>With r = logratio = policy - reference summed completion log-probs and
 * {@code z = max(0, mean(KL policy - KL reference))} (no gradient):
 * {@code kto}: desirable {@code 1 - sigmoid(beta (r - z))}, undesirable {@code 1 - sigmoid(beta (z - r))};
 * {@code apo_zero_unpaired}: {@code 1 - sigmoid(beta r)} and {@code sigmoid(beta r)}, z = 0. Each row's loss
 * is scaled by {@code desirable_weight} or {@code undesirable_weight}; the loss is their mean over the rows.
 *
 * <p>Metrics, per micro-batch, as TRL appends them: a class-conditional value of a micro-batch without
 * that class is NaN (0/0), which the loop leaves out of its averages as TRL leaves it out of its lists.
 *
 * <p>Data parallel ({@link #replicated}): as TRL with N processes, each replica's KL estimate is the mean
 * of its shard's KL rows, and the point is {@code z = max(0, mean over replicas of those means)}
 * ({@code accelerator.gather(kl).mean().clamp(min=0)}), one {@code CollectiveReduceV2} sum of a scalar per
 * forward pass; the metrics are merged as class sums and counts summed, then divided ({@link
 * #gatherMetrics}). An idle replica (a last global batch of fewer shards) runs on a copy of the first
 * shard, so its estimate is the first shard's (accelerate pads with rows from the data set's start).
 */
public final class KtoObjective implements Objective {

  /** TRL's KTO metric names, "loss" first. */
  public static final List<String> METRICS = List.of("loss", "kl", "entropy", "logits/chosen", "logits/rejected",
      "rewards/chosen", "logps/chosen", "rewards/rejected", "logps/rejected", "rewards/margins");

  /** The two loss types of TRL's KTOTrainer. */
  public enum LossType {
    KTO,
    APO_ZERO_UNPAIRED
  }

  private final LossType lossType;
  private final float beta;
  private final float desirableWeight;
  private final float undesirableWeight;
  /** The replicas that share the KL point; null: one device. */
  private final Replication replication;

  /** Instance key of the KL point's collective (the gradient buckets use 1, 2, ...). */
  static final int KL_INSTANCE_KEY = 1 << 20;

  public KtoObjective(LossType lossType, float beta, float desirableWeight, float undesirableWeight) {
    this(lossType, beta, desirableWeight, undesirableWeight, null);
  }

  private KtoObjective(LossType lossType, float beta, float desirableWeight, float undesirableWeight,
      Replication replication) {
    this.replication = replication;
    this.lossType = lossType;
    this.beta = beta;
    this.desirableWeight = desirableWeight;
    this.undesirableWeight = undesirableWeight;
  }

  @Override
  public List<String> metricNames() {
    return METRICS;
  }

  /** With several replicas, the KL point is averaged across them (TRL: gathered across processes). */
  @Override
  public Objective replicated(Replication r) {
    return r.replicas() == 1 ? this : new KtoObjective(lossType, beta, desirableWeight, undesirableWeight, r);
  }

  @Override
  public boolean readsReference() {
    return true;
  }

  @Override
  public Operand<TFloat32> sequenceScores(Ops tf, CompletionLogProbs.Result logProbs) {
    return logProbs.logps(); // [S] summed completion log-probs
  }

  /** KTO reads each row's label: it is built with the batch inputs ({@link #build(Ops, BatchInputs, ...)}). */
  @Override
  public Part build(Ops tf, Operand<TInt32> numPairs, CompletionLogProbs.Result policy,
      Operand<TFloat32> policyScores, Operand<TFloat32> referenceScores) {
    throw new IllegalStateException("KTO reads each row's label; build it from the batch inputs");
  }

  @Override
  public Part build(Ops tf, BatchInputs inputs, CompletionLogProbs.Result pol, Operand<TFloat32> policySeq,
      Operand<TFloat32> referenceSeq) {
    Rows rows = new Rows(tf, inputs.numPairs());
    Operand<TFloat32> desirable = inputs.labels(); // [N]
    Operand<TFloat32> undesirable = tf.math.sub(tf.onesLike(desirable), desirable); // [N]
    Operand<TFloat32> logratio = tf.math.sub(rows.main(policySeq), rows.main(referenceSeq)); // [N]
    Operand<TFloat32> kl = lossType == LossType.KTO
        ? klPoint(tf, rows.kl(policySeq), rows.kl(referenceSeq)) : tf.constant(0f); // []
    Operand<TFloat32> perRow = tf.math.add(
        tf.math.mul(tf.math.mul(tf.constant(desirableWeight), desirable), desirableLoss(tf, logratio, kl)),
        tf.math.mul(tf.math.mul(tf.constant(undesirableWeight), undesirable), undesirableLoss(tf, logratio, kl))); // [N]
    Operand<TFloat32> loss = tf.math.mean(perRow, tf.constant(0)); // []
    return new Part(loss, metrics(tf, loss, kl, pol, rows, policySeq, logratio, desirable, undesirable)); // [K]
  }

  /**
   * KL reference point {@code max(0, mean(kl_policy - kl_reference))}, without gradient; with N replicas
   * {@code max(0, (1/N) sum_k mean_k(kl_policy - kl_reference))}, the replica means summed by a collective.
   */
  private Operand<TFloat32> klPoint(Ops tf, Operand<TFloat32> policyKl, Operand<TFloat32> referenceKl) {
    Operand<TFloat32> mean = tf.math.mean(tf.math.sub(policyKl, referenceKl), tf.constant(0)); // []
    if (replication != null) {
      Operand<TFloat32> one = tf.reshape(tf.stopGradient(mean), tf.constant(new int[] {1})); // [1]
      Operand<TFloat32> sum = GradientAllReduce.collectiveSum(tf, one, replication, KL_INSTANCE_KEY, "kl_sum"); // [1]
      mean = tf.math.div(tf.reshape(sum, tf.constant(new int[0])), tf.constant((float) replication.replicas())); // []
    }
    return tf.stopGradient(tf.math.maximum(mean, tf.constant(0f))); // []
  }

  /**
   * The replicas' metrics as TRL logs them from N processes: each class-conditional value is the class's
   * sum over all shards divided by its count (rows, or completion tokens for the logits), a shard without
   * the class (NaN) adding nothing; the loss is the row mean, entropy the mean over the rows' tokens, kl
   * the shared point, and the margin the merged chosen minus the merged rejected reward.
   */
  @Override
  public float[] gatherMetrics(List<float[]> perShard, List<Batch> shards) {
    if (perShard.size() == 1) {
      return perShard.get(0);
    }
    float[] out = new float[METRICS.size()];
    for (int i = 0; i < out.length; i++) {
      String name = METRICS.get(i);
      double sum = 0;
      double total = 0;
      for (int k = 0; k < shards.size(); k++) {
        double w = metricWeight(name, shards.get(k));
        if (w > 0) {
          sum += w * perShard.get(k)[i];
          total += w;
        }
      }
      out[i] = name.equals("kl") ? perShard.get(0)[i] : (float) (sum / total); // 0/0: NaN, as on one device
    }
    int margins = METRICS.indexOf("rewards/margins");
    out[margins] = out[METRICS.indexOf("rewards/chosen")] - out[METRICS.indexOf("rewards/rejected")];
    return out;
  }

  /** What metric {@code name} of a shard is a mean over: rows, a class's rows, or their completion tokens. */
  static double metricWeight(String name, Batch b) {
    return switch (name) {
      case "entropy" -> rowTokens(b, -1);
      case "logits/chosen" -> rowTokens(b, 1);
      case "logits/rejected" -> rowTokens(b, 0);
      case "rewards/chosen", "logps/chosen" -> classRows(b, 1);
      case "rewards/rejected", "logps/rejected" -> classRows(b, 0);
      default -> b.numPairs(); // loss (a row mean); kl and the margin are not weighted
    };
  }

  /** Rows of label {@code label} in the shard. */
  private static int classRows(Batch b, float label) {
    int n = 0;
    for (float l : b.labels()) {
      n += l == label ? 1 : 0;
    }
    return n;
  }

  /** Counted completion tokens of the shard's rows (not its KL rows) of label {@code label}; -1: every row. */
  private static long rowTokens(Batch b, float label) {
    long n = 0;
    for (int s : b.lossSequences()) {
      boolean row = s >= 0 && s < b.numPairs();
      n += row && (label < 0 || b.labels()[s] == label) ? 1 : 0;
    }
    return n;
  }

  /** kto: {@code 1 - sigmoid(beta (r - z))}; apo_zero_unpaired: {@code 1 - sigmoid(beta r)} (z = 0). */
  private Operand<TFloat32> desirableLoss(Ops tf, Operand<TFloat32> r, Operand<TFloat32> kl) {
    Operand<TFloat32> x = tf.math.mul(tf.constant(beta), tf.math.sub(r, kl)); // [N]
    return tf.math.sub(tf.constant(1f), tf.math.sigmoid(x)); // [N]
  }

  /** kto: {@code 1 - sigmoid(beta (z - r))}; apo_zero_unpaired: {@code sigmoid(beta r)}. */
  private Operand<TFloat32> undesirableLoss(Ops tf, Operand<TFloat32> r, Operand<TFloat32> kl) {
    if (lossType == LossType.APO_ZERO_UNPAIRED) {
      return tf.math.sigmoid(tf.math.mul(tf.constant(beta), r)); // [N]
    }
    Operand<TFloat32> x = tf.math.mul(tf.constant(beta), tf.math.sub(kl, r)); // [N]
    return tf.math.sub(tf.constant(1f), tf.math.sigmoid(x)); // [N]
  }

  /** Splits a {@code [2N]} per-sequence vector into the rows and their KL rows. */
  private record Rows(Ops tf, Operand<TInt32> n) {
    Operand<TFloat32> main(Operand<TFloat32> x) {
      return tf.slice(x, tf.constant(new int[] {0}), tf.reshape(n, tf.constant(new int[] {1})));
    }

    Operand<TFloat32> kl(Operand<TFloat32> x) {
      Operand<TInt32> start = tf.reshape(n, tf.constant(new int[] {1}));
      return tf.slice(x, start, start);
    }
  }

  /** {@link #METRICS} of the micro-batch; a class-conditional one is NaN (0/0) when the class is absent. */
  private Operand<TFloat32> metrics(Ops tf, Operand<TFloat32> loss, Operand<TFloat32> kl,
      CompletionLogProbs.Result pol, Rows rows, Operand<TFloat32> policySeq, Operand<TFloat32> logratio,
      Operand<TFloat32> desirable, Operand<TFloat32> undesirable) {
    Operand<TInt32> axis = tf.constant(0);
    Operand<TFloat32> tokens = rows.main(pol.tokens()); // [N]
    Operand<TFloat32> logitSums = rows.main(pol.meanLogitSum()); // [N]
    Operand<TFloat32> logps = rows.main(policySeq); // [N]
    Operand<TFloat32> rewards = tf.math.mul(tf.constant(beta), logratio); // [N]
    Operand<TFloat32> chosenRewards = weightedMean(tf, rewards, desirable); // []
    Operand<TFloat32> rejectedRewards = weightedMean(tf, rewards, undesirable); // []
    List<Operand<TFloat32>> values = List.of(
        tf.stopGradient(loss),
        kl,
        tf.math.div(tf.reduceSum(rows.main(pol.entropySum()), axis), tf.reduceSum(tokens, axis)),
        ratio(tf, tf.math.mul(logitSums, desirable), tf.math.mul(tokens, desirable)),
        ratio(tf, tf.math.mul(logitSums, undesirable), tf.math.mul(tokens, undesirable)),
        chosenRewards,
        weightedMean(tf, logps, desirable),
        rejectedRewards,
        weightedMean(tf, logps, undesirable),
        tf.math.sub(chosenRewards, rejectedRewards));
    return tf.stopGradient(tf.stack(values)); // [K]
  }

  /** {@code sum(x * w) / sum(w)}: NaN when the weights are all 0. */
  private static Operand<TFloat32> weightedMean(Ops tf, Operand<TFloat32> x, Operand<TFloat32> w) {
    return ratio(tf, tf.math.mul(x, w), w); // []
  }

  private static Operand<TFloat32> ratio(Ops tf, Operand<TFloat32> numerator, Operand<TFloat32> denominator) {
    return tf.math.div(tf.reduceSum(numerator, tf.constant(0)), tf.reduceSum(denominator, tf.constant(0))); // []
  }
}
