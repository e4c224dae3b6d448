package dev.tfdpo.ops;

import org.tensorflow.Operand;
import org.tensorflow.op.Ops;
import org.tensorflow.types.TFloat32;

/**
 * Numerically stable scalar functions used by the losses. Each is finite, with a finite gradient, for
 * every finite input in its domain.
 */
public final class Stable {

  /** {@code ln 2}: where {@link #log1mExp} switches formula (Maechler 2012, "Accurately computing log(1-exp(-|a|))"). */
  static final float LN2 = (float) Math.log(2.0);

  /**
   * Inputs of {@link #log1mExp} closer to 0 than this are evaluated here: {@code log(1-exp(x))} is -inf
   * at 0 and its derivative {@code -1/expm1(-x)} overflows float32 near it. At the clamp the value is
   * about -69 and the derivative about -1e30.
   */
  static final float LOG1M_EXP_MAX_INPUT = -1e-30f;

  private Stable() {}

  /** {@code log(sigmoid(z)) = -softplus(-z)}: finite for any finite z, unlike {@code log(sigmoid(z))}. */
  public static Operand<TFloat32> logSigmoid(Ops tf, Operand<TFloat32> z) {
    return tf.math.neg(tf.math.softplus(tf.math.neg(z)));
  }

  /**
   * {@code log(1 - exp(x))} for {@code x < 0}: {@code log1p(-exp(x))} for {@code x < -ln 2},
   * {@code log(-expm1(x))} otherwise (Maechler 2012). Each branch is evaluated on an input clamped to its
   * own range, so the branch that {@code select} discards is finite and contributes a zero (not NaN)
   * gradient. Inputs above {@link #LOG1M_EXP_MAX_INPUT} (including {@code x >= 0}, outside the domain)
   * are evaluated at that bound.
   */
  public static Operand<TFloat32> log1mExp(Ops tf, Operand<TFloat32> x) {
    Operand<TFloat32> farInput = tf.math.minimum(x, tf.constant(-LN2)); // [..]
    Operand<TFloat32> nearInput =
        tf.math.minimum(
            tf.math.maximum(x, tf.constant(-LN2)), tf.constant(LOG1M_EXP_MAX_INPUT)); // [..]
    Operand<TFloat32> far = tf.math.log1p(tf.math.neg(tf.math.exp(farInput))); // [..]
    Operand<TFloat32> near = tf.math.log(tf.math.neg(tf.math.expm1(nearInput))); // [..]
    return tf.select(tf.math.less(x, tf.constant(-LN2)), far, near);
  }
}
