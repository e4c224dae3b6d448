package dev.tfdpo.ops;

import java.util.List;
import org.tensorflow.Operand;
import org.tensorflow.op.Ops;
import org.tensorflow.types.TFloat32;

/**
 * The pairwise reward-model loss of TRL's {@code RewardTrainer} (Bradley-Terry; ms-swift {@code rlhf_type
 * rm}), on the scalar scores of a micro-batch's chosen and rejected sequences, and TRL's metrics.
 *
 * <pre>
 *   loss = mean_p softplus(-(r_c[p] - r_r[p] - m[p]))            (= -log sigmoid(r_c - r_r - m))
 *        + c * mean_p (r_c[p] + r_r[p])^2                          (only when c != 0)
 * </pre>
 *
 * with {@code m} the optional per-pair {@code margin} column (zeros without it) and {@code c} the {@code
 * center_rewards_coefficient} (Eisenstein et al. 2023, "Helping or Herding?"; it pulls the rewards towards
 * zero mean). TRL's metrics are computed without the margin: {@code accuracy} = fraction of pairs with
 * {@code r_c > r_r} (strict), {@code margin} = mean of {@code r_c - r_r}, and {@code min_reward},
 * {@code mean_reward}, {@code max_reward} over all 2P scores of the micro-batch.
 */
public final class RewardLoss {

  /** Names of {@link Result#metrics()}, in order: the loss first, then TRL's per-micro-batch metrics. */
  public static final List<String> METRICS =
      List.of("loss", "accuracy", "min_reward", "mean_reward", "max_reward", "margin");

  private RewardLoss() {}

  /**
   * @param loss the scalar minimized {@code []}
   * @param metrics {@link #METRICS} {@code [6]}, without gradient
   */
  public record Result(Operand<TFloat32> loss, Operand<TFloat32> metrics) {}

  /**
   * Builds the loss and metrics.
   *
   * @param chosen scores of the chosen sequences {@code [P]}
   * @param rejected scores of the rejected sequences {@code [P]}
   * @param margin per-pair margins {@code [P]} (zeros when the data has none)
   * @param centerCoefficient {@code center_rewards_coefficient}; 0 adds no term
   */
  public static Result compute(Ops tf, Operand<TFloat32> chosen, Operand<TFloat32> rejected,
      Operand<TFloat32> margin, double centerCoefficient) {
    Operand<TFloat32> gap = tf.math.sub(chosen, rejected); // [P]
    Operand<TFloat32> loss = pairLoss(tf, tf.math.sub(gap, margin)); // []
    if (centerCoefficient != 0) {
      loss = tf.math.add(loss, centering(tf, chosen, rejected, centerCoefficient)); // []
    }
    Operand<TFloat32> all = tf.concat(List.of(chosen, rejected), tf.constant(0)); // [2P]
    Operand<TFloat32> accuracy =
        mean(tf, tf.dtypes.cast(tf.math.greater(chosen, rejected), TFloat32.class)); // []
    Operand<TFloat32> metrics = tf.stopGradient(tf.stack(List.of(
        loss, accuracy,
        tf.min(all, tf.constant(0)), mean(tf, all), tf.max(all, tf.constant(0)),
        mean(tf, gap)))); // [6]
    return new Result(loss, metrics);
  }

  /** {@code mean_p -log sigmoid(d[p])} for {@code d = r_c - r_r - m} {@code [P]}, as a stable softplus. */
  static Operand<TFloat32> pairLoss(Ops tf, Operand<TFloat32> d) {
    return mean(tf, tf.math.neg(Stable.logSigmoid(tf, d))); // []
  }

  /** {@code c * mean_p (r_c[p] + r_r[p])^2}. */
  static Operand<TFloat32> centering(Ops tf, Operand<TFloat32> chosen, Operand<TFloat32> rejected, double c) {
    Operand<TFloat32> sum = tf.math.add(chosen, rejected); // [P]
    return tf.math.mul(tf.constant((float) c), mean(tf, tf.math.square(sum))); // []
  }

  private static Operand<TFloat32> mean(Ops tf, Operand<TFloat32> x) {
    return tf.math.mean(x, tf.constant(0)); // []
  }
}
