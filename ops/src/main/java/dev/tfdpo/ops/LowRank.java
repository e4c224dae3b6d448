package dev.tfdpo.ops;

import org.tensorflow.Operand;
import org.tensorflow.op.Ops;
import org.tensorflow.op.linalg.MatMul;
import org.tensorflow.types.TFloat32;

/**
 * A LoRA adapter on one projection, in PEFT's layout: {@code A [r, in]}, {@code B [out, r]} and the
 * scaling {@code s} ({@code alpha / r}, rsLoRA {@code alpha / sqrt(r)}). The adapted projection is
 * {@code y = x W^T + s * (x A^T) B^T}, computed factored: {@code W + s B A} is never materialized, so
 * the adapter costs {@code [N, r]} activations and no second copy of the weight.
 *
 * @param a {@code [r, in]}
 * @param b {@code [out, r]}
 * @param scale {@code s}
 */
public record LowRank(Operand<TFloat32> a, Operand<TFloat32> b, float scale) {

  /**
   * {@code s * (x A^T) B^T}, in PEFT's order ({@code lora_B(lora_A(x)) * scaling}).
   *
   * @param x {@code [N, in]}
   * @return {@code [N, out]}
   */
  public Operand<TFloat32> delta(Ops tf, Operand<TFloat32> x) {
    Operand<TFloat32> down = tf.linalg.matMul(x, a, MatMul.transposeB(true)); // [N, r]
    Operand<TFloat32> up = tf.linalg.matMul(down, b, MatMul.transposeB(true)); // [N, out]
    return tf.math.mul(up, tf.constant(scale)); // [N, out]
  }

  /**
   * {@link #delta(Ops, Operand)} with its two products in {@code precision} (torch's autocast runs
   * {@code lora_A} and {@code lora_B} in bfloat16 too); the adapter weights stay float32 (the casts carry
   * their gradients back), the intermediate {@code [N, r]} is rounded once to bfloat16 as autocast does,
   * and the scaling is applied in float32.
   *
   * @param x {@code [N, in]}
   * @return {@code [N, out]}
   */
  public Operand<TFloat32> delta(Ops tf, Operand<TFloat32> x, Precision precision) {
    if (precision == Precision.FLOAT32) {
      return delta(tf, x); // bitwise the float32 graph of before
    }
    Operand<TFloat32> down = precision.matMul(tf, x, a, true); // [N, r]
    Operand<TFloat32> up = precision.matMul(tf, down, b, true); // [N, out]
    return tf.math.mul(up, tf.constant(scale)); // [N, out]
  }

  /**
   * {@code y + s * (x A^T) B^T}, or {@code y} itself when {@code adapter} is null (no adapter on this
   * projection).
   *
   * @param y the base projection {@code [N, out]}
   * @param x its input {@code [N, in]}
   * @return {@code [N, out]}
   */
  public static Operand<TFloat32> add(Ops tf, Operand<TFloat32> y, Operand<TFloat32> x, LowRank adapter) {
    return add(tf, y, x, adapter, Precision.FLOAT32);
  }

  /** {@link #add(Ops, Operand, Operand, LowRank)} with the adapter's products in {@code precision}. */
  public static Operand<TFloat32> add(
      Ops tf, Operand<TFloat32> y, Operand<TFloat32> x, LowRank adapter, Precision precision) {
    return adapter == null ? y : tf.math.add(y, adapter.delta(tf, x, precision)); // [N, out]
  }
}
