package dev.tfdpo.ops;

import java.util.List;
import org.tensorflow.Operand;
import org.tensorflow.op.Ops;
import org.tensorflow.op.linalg.MatMul;
import org.tensorflow.types.TBfloat16;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.family.TNumber;

/**
 * The number type of the matrix products: float32, or bfloat16 (PaddleNLP's {@code bf16} / torch's CPU
 * autocast). Only the products change type: each casts its operands to the compute type and its result
 * back to float32, so everything between them (norms, residual adds, softmax, log-softmax, sums, losses)
 * stays float32, and gradients reach float32 weights through the casts (float32 master weights).
 *
 * <p>The same enum names how a frozen model's weights are stored ({@code fp16_opt_level} O2 stores the
 * reference in bfloat16): {@link #as} casts only when the types differ, so products over weights that are
 * already bfloat16 read them directly.
 */
public enum Precision {
  /** Every product in float32. */
  FLOAT32(TFloat32.class),
  /** Products in bfloat16 (8-bit mantissa), accumulated by the kernels in float32, rounded once. */
  BFLOAT16(TBfloat16.class);

  private final Class<? extends TNumber> type;

  Precision(Class<? extends TNumber> type) {
    this.type = type;
  }

  /** The tensor type of this precision. */
  public Class<? extends TNumber> type() {
    return type;
  }

  /** {@code x} as {@code type}: itself when it already has that type, else a Cast. */
  @SuppressWarnings("unchecked")
  public static <T extends TNumber> Operand<T> as(Ops tf, Operand<? extends TNumber> x, Class<T> type) {
    return x.type() == type ? (Operand<T>) x : tf.dtypes.cast(x, type);
  }

  /** {@code x} in float32 (no op when it is float32 already). */
  public static Operand<TFloat32> float32(Ops tf, Operand<? extends TNumber> x) {
    return as(tf, x, TFloat32.class);
  }

  /** {@code x} in this precision's type (no op when it has it already); same shape. */
  public Operand<? extends TNumber> cast(Ops tf, Operand<? extends TNumber> x) {
    return as(tf, x, type);
  }

  /**
   * {@code x @ y} (or {@code x @ y^T}) with both operands in this precision, the result as float32.
   *
   * @param x {@code [N, K]}
   * @param y {@code [K, M]}, or {@code [M, K]} when {@code transposeB}
   * @return {@code [N, M]}
   */
  public Operand<TFloat32> matMul(
      Ops tf, Operand<? extends TNumber> x, Operand<? extends TNumber> y, boolean transposeB) {
    return matMul(tf, x, y, transposeB, type);
  }

  /** A two-operand einsum with both operands in this precision, the result as float32. */
  public Operand<TFloat32> einsum(
      Ops tf, String equation, Operand<? extends TNumber> x, Operand<? extends TNumber> y) {
    return einsum(tf, equation, x, y, type);
  }

  private static <T extends TNumber> Operand<TFloat32> matMul(
      Ops tf, Operand<? extends TNumber> x, Operand<? extends TNumber> y, boolean transposeB, Class<T> type) {
    Operand<T> product = tf.linalg.matMul(as(tf, x, type), as(tf, y, type), MatMul.transposeB(transposeB)); // [N, M]
    return float32(tf, product); // [N, M]
  }

  private static <T extends TNumber> Operand<TFloat32> einsum(
      Ops tf, String equation, Operand<? extends TNumber> x, Operand<? extends TNumber> y, Class<T> type) {
    Operand<T> product = tf.linalg.einsum(List.of(as(tf, x, type), as(tf, y, type)), equation); // per equation
    return float32(tf, product); // per equation
  }
}
