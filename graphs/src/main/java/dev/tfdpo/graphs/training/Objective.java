package dev.tfdpo.graphs.training;

import dev.tfdpo.ops.CompletionLogProbs;
import java.util.List;
import org.tensorflow.Operand;
import org.tensorflow.op.Ops;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt32;

/**
 * The objective seam: what a training graph optimizes, given per-sequence log-probs of the policy (and of
 * the reference, when the objective reads one). The graph around it (inputs, forward pass, reference,
 * gradients, update, checkpoints) is the same for every objective; DPO with all its loss types is
 * {@link DpoObjective}, and KTO or a reward model would be another implementation.
 */
public interface Objective {

  /** Names of the values {@link Part#metrics()} stacks, in order; "loss" first. */
  List<String> metricNames();

  /**
   * The reference's part: whether the objective reads reference log-probs at all. When it does not, the
   * graph feeds zeros and needs no reference weights.
   */
  boolean readsReference();

  /**
   * The per-sequence value {@code [S]} the objective reads from a model's log-probs (the same summary
   * for policy and reference, e.g. LD-DPO's weighted sums).
   */
  Operand<TFloat32> sequenceScores(Ops tf, CompletionLogProbs.Result logProbs);

  /**
   * Builds the objective on one micro-batch.
   *
   * @param numPairs P; sequences are {@code [chosen (P), rejected (P)]}
   * @param policy the policy's log-probs and token statistics
   * @param policyScores {@link #sequenceScores} of the policy {@code [S]}
   * @param referenceScores the same for the reference {@code [S]} (zeros when it reads none)
   */
  Part build(Ops tf, Operand<TInt32> numPairs, CompletionLogProbs.Result policy, Operand<TFloat32> policyScores,
      Operand<TFloat32> referenceScores);

  /**
   * Builds the objective on one micro-batch, with every batch input at hand: what the training graph
   * calls. Objectives that read more of the batch than its size (KTO's per-row labels, {@link
   * BatchInputs#labels()}) override this one; the others implement the one above.
   */
  default Part build(Ops tf, BatchInputs inputs, CompletionLogProbs.Result policy, Operand<TFloat32> policyScores,
      Operand<TFloat32> referenceScores) {
    return build(tf, inputs.numPairs(), policy, policyScores, referenceScores);
  }

  /**
   * This objective in a graph of {@code replication}'s replicas: itself, unless a value of its loss is a
   * statistic of the whole global micro-batch (KTO's KL reference point), which the replicas then share.
   */
  default Objective replicated(Replication replication) {
    return this;
  }

  /**
   * The replicas' metrics {@code [K]} each (shard k's from replica k) as one device logs them on the
   * whole global micro-batch; by default pair means weighted by pairs, token means by tokens
   * ({@link DataParallel#gatherMean}).
   */
  default float[] gatherMetrics(List<float[]> perShard, List<Batch> shards) {
    return DataParallel.gatherMean(metricNames(), perShard, shards);
  }

  /**
   * One micro-batch's objective.
   *
   * @param loss the scalar minimized {@code []}
   * @param metrics the logged values {@code [K]} in {@link #metricNames()} order, without gradient
   */
  record Part(Operand<TFloat32> loss, Operand<TFloat32> metrics) {}
}
