package dev.tfdpo.ops;

import org.tensorflow.Operand;
import org.tensorflow.op.Ops;
import org.tensorflow.types.TFloat32;

/** Numerically stable scalar functions used by the losses. */
public final class Stable {

  private Stable() {}

  /** {@code log(sigmoid(z)) = -softplus(-z)}: finite for any finite z, unlike {@code log(sigmoid(z))}. */
  public static Operand<TFloat32> logSigmoid(Ops tf, Operand<TFloat32> z) {
    return tf.math.neg(tf.math.softplus(tf.math.neg(z)));
  }
}
