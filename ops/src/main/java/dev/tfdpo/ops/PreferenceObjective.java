package dev.tfdpo.ops;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.tensorflow.Operand;
import org.tensorflow.op.Ops;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt32;

/**
 * The micro-batch loss of a {@link LossSpec}: the weighted loss types plus the NLL / ftx terms.
 *
 * <pre>
 *   total = pref_loss_ratio * sum_k w_k * mean_pairs(wpo * loss_k)
 *         + (sft_loss_ratio + rpo_alpha) * NLL         NLL = -sum(pi_c) / sum(n_c)
 *         + pref_ftx * mean_pairs(-pi_c / n_c)
 * </pre>
 *
 * {@code wpo} is 1 unless {@code use_weighting}. The first line is TRL 1.x's {@code sum_k w_k *
 * loss_k.mean()} (with {@code pref_loss_ratio} = 1) and PaddleNLP's {@code pref_loss_ratio * pref};
 * the second is PaddleNLP's {@code sft_loss_ratio * sft_loss} and TRL 0.x / ms-swift's {@code rpo_alpha
 * * nll}, the same token-mean quantity; the third is MindSpeed-LLM's {@code pref_ftx}, which averages per
 * pair first.
 */
public final class PreferenceObjective {

  /**
   * @param total the scalar loss to differentiate
   * @param metrics named scalars, in {@link LossSpec#metricNames()} order
   */
  public record Terms(Operand<TFloat32> total, Map<String, Operand<TFloat32>> metrics) {}

  private PreferenceObjective() {}

  /** Builds the loss of {@code spec} on {@code x}. */
  public static Terms build(Ops tf, LossSpec spec, PairLogProbs x) {
    Operand<TInt32> pairAxis = tf.constant(0);
    Map<String, Operand<TFloat32>> available = new LinkedHashMap<>();
    List<Operand<TFloat32>> weighted = new ArrayList<>();
    for (LossSpec.Component c : spec.components()) {
      Operand<TFloat32> perPair = tf.math.mul(c.loss().perPair(tf, x, spec), x.pairWeights()); // [P]
      Operand<TFloat32> mean = tf.math.mean(perPair, pairAxis); // []
      available.put(c.loss().configName() + "_loss", mean);
      weighted.add(tf.math.mul(tf.constant(c.weight()), mean)); // []
    }
    Operand<TFloat32> preference =
        tf.math.mul(tf.constant(spec.prefLossRatio()), tf.math.addN(weighted)); // []
    Operand<TFloat32> nll = PreferenceLoss.chosenNll(tf, x); // []
    Operand<TFloat32> averaged = tf.math.div(x.policyChosenUnweighted(), x.chosenTokens()); // [P] = A_c
    Operand<TFloat32> ftx = tf.math.neg(tf.math.mean(averaged, pairAxis)); // []
    available.putIfAbsent("sft_loss", nll);
    available.put("ftx_loss", ftx);

    List<Operand<TFloat32>> terms = new ArrayList<>(List.of(preference));
    Stream.of(new Extra(spec.sftLossRatio() + spec.rpoAlpha(), nll), new Extra(spec.prefFtx(), ftx))
        .filter(e -> e.factor() > 0)
        .forEach(e -> terms.add(tf.math.mul(tf.constant(e.factor()), e.value())));
    Operand<TFloat32> total = tf.math.addN(terms); // []

    Map<String, Operand<TFloat32>> metrics = new LinkedHashMap<>();
    spec.metricNames().forEach(name -> metrics.put(name, tf.stopGradient(available.get(name))));
    return new Terms(total, metrics);
  }

  /** An added term: factor times a scalar. */
  private record Extra(float factor, Operand<TFloat32> value) {}
}
