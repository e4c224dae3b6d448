package dev.tfdpo.graphs.training;

import dev.tfdpo.ops.CompletionLogProbs;
import dev.tfdpo.ops.LossSpec;
import dev.tfdpo.ops.PairLogProbs;
import dev.tfdpo.ops.PreferenceObjective;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import org.tensorflow.Operand;
import org.tensorflow.op.Ops;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt32;

/**
 * DPO and its relatives as an {@link Objective}: every loss type of {@link LossSpec} (and their
 * weighted lists), on padded or packed batches alike, with TRL's micro-batch metrics.
 */
public final class DpoObjective implements Objective {

  /**
   * TRL's 11 micro-batch metrics, first in the fetched metric vector; {@link #metricNames()} appends the
   * loss's own ({@link LossSpec#metricNames()}).
   */
  public static final List<String> BASE_METRICS =
      List.of(
          "loss",
          "rewards/chosen",
          "rewards/rejected",
          "rewards/accuracies",
          "rewards/margins",
          "logps/chosen",
          "logps/rejected",
          "logits/chosen",
          "logits/rejected",
          "entropy",
          "mean_token_accuracy");

  private final LossSpec spec;

  public DpoObjective(LossSpec spec) {
    this.spec = spec;
  }

  @Override
  public List<String> metricNames() {
    return List.copyOf(concat(BASE_METRICS, spec.metricNames()));
  }

  @Override
  public boolean readsReference() {
    return !spec.referenceFree();
  }

  @Override
  public Operand<TFloat32> sequenceScores(Ops tf, CompletionLogProbs.Result logProbs) {
    return logProbs.ldWeightedLogps(tf, spec.ldAlpha()); // [S]
  }

  @Override
  public Part build(Ops tf, Operand<TInt32> numPairs, CompletionLogProbs.Result pol, Operand<TFloat32> policySeq,
      Operand<TFloat32> referenceSeq) {
    Halves halves = new Halves(tf, numPairs);
    // Ones are shaped from the token counts, which do not depend on the weights: OnesLike has no
    // gradient and must stay off the policy's path.
    Operand<TFloat32> sequenceWeights =
        spec.useWeighting() ? pol.wpoWeights(tf) : tf.onesLike(pol.tokens()); // [S]
    PairLogProbs pairs =
        new PairLogProbs(
            halves.chosen(policySeq), halves.rejected(policySeq),
            halves.chosen(referenceSeq), halves.rejected(referenceSeq),
            halves.chosen(pol.tokens()), halves.rejected(pol.tokens()),
            halves.chosen(pol.logps()),
            tf.math.mul(halves.chosen(sequenceWeights), halves.rejected(sequenceWeights))); // [P] each
    PreferenceObjective.Terms terms = PreferenceObjective.build(tf, spec, pairs);
    Operand<TFloat32> loss = terms.total(); // []
    return new Part(loss, metrics(tf, loss, pairs, pol, halves, spec.beta(), terms.metrics().values())); // [K]
  }

  /** Splits a {@code [2P]} per-sequence vector into its chosen and rejected halves. */
  private record Halves(Ops tf, Operand<TInt32> numPairs) {
    Operand<TFloat32> chosen(Operand<TFloat32> x) {
      return tf.slice(x, tf.constant(new int[] {0}), tf.reshape(numPairs, tf.constant(new int[] {1})));
    }

    Operand<TFloat32> rejected(Operand<TFloat32> x) {
      Operand<TInt32> start = tf.reshape(numPairs, tf.constant(new int[] {1}));
      return tf.slice(x, start, start);
    }
  }

  /** The micro-batch metrics, stacked in {@link #metricNames()} order: TRL's, then the loss's. */
  private static Operand<TFloat32> metrics(
      Ops tf,
      Operand<TFloat32> loss,
      PairLogProbs x,
      CompletionLogProbs.Result pol,
      Halves halves,
      float beta,
      Collection<Operand<TFloat32>> lossMetrics) {
    Operand<TInt32> axis = tf.constant(0);
    Operand<TFloat32> b = tf.constant(beta);
    Operand<TFloat32> chosenRewards = tf.math.mul(b, tf.math.sub(x.policyChosen(), x.refChosen())); // [P]
    Operand<TFloat32> rejectedRewards =
        tf.math.mul(b, tf.math.sub(x.policyRejected(), x.refRejected())); // [P]
    Operand<TFloat32> wins =
        tf.dtypes.cast(tf.math.greater(chosenRewards, rejectedRewards), TFloat32.class); // [P]
    Operand<TFloat32> chosenTokens = tf.reduceSum(halves.chosen(pol.tokens()), axis); // []
    Operand<TFloat32> rejectedTokens = tf.reduceSum(halves.rejected(pol.tokens()), axis); // []
    Operand<TFloat32> allTokens = tf.math.add(chosenTokens, rejectedTokens); // []
    List<Operand<TFloat32>> values =
        concat(List.of(
            tf.stopGradient(loss),
            tf.math.mean(chosenRewards, axis),
            tf.math.mean(rejectedRewards, axis),
            tf.math.mean(wins, axis),
            tf.math.mean(tf.math.sub(chosenRewards, rejectedRewards), axis),
            tf.math.mean(x.policyChosen(), axis),
            tf.math.mean(x.policyRejected(), axis),
            tf.math.div(tf.reduceSum(halves.chosen(pol.meanLogitSum()), axis), chosenTokens),
            tf.math.div(tf.reduceSum(halves.rejected(pol.meanLogitSum()), axis), rejectedTokens),
            tf.math.div(tf.reduceSum(pol.entropySum(), axis), allTokens),
            tf.math.div(tf.reduceSum(halves.chosen(pol.argmaxHits()), axis), chosenTokens)),
            lossMetrics);
    return tf.stopGradient(tf.stack(values)); // [K]
  }

  private static <T> List<T> concat(Collection<? extends T> first, Collection<? extends T> second) {
    List<T> all = new ArrayList<>(first);
    all.addAll(second);
    return all;
  }
}
