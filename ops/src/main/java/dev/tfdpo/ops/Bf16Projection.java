package dev.tfdpo.ops;

import java.util.List;
import org.tensorflow.GraphOperation;
import org.tensorflow.Operand;
import org.tensorflow.Output;
import org.tensorflow.op.Ops;
import org.tensorflow.types.TBfloat16;
import org.tensorflow.types.TFloat32;

/**
 * A bfloat16 product {@code x @ W^T} of a float32 weight ({@link Precision#BFLOAT16}), whose backward pass
 * casts the weight again instead of keeping the forward pass's bfloat16 copy.
 *
 * <p>Differentiated as written ({@code Cast(MatMul(Cast(x), Cast(W)))}), TensorFlow's {@code MatMul}
 * gradient reads the weight's bfloat16 copy, so every product keeps one from the forward to the backward
 * pass: half the policy's size (1 GB on the Qwen2.5-0.5B shape), on top of the float32 weights. Here the
 * product is a lean operation ({@link LeanGradients}) whose gradient casts the float32 weight (kept
 * anyway) again once the product's gradient exists and applies exactly TensorFlow's own gradient
 * operations: the result cast's ({@code Cast(dy)} to bfloat16), {@code MatMul}'s two products, the weight
 * cast's (the weight's gradient back to float32). Values and gradients are bitwise the plain form's.
 * {@link RmsNorm} and {@link GatedSilu} use {@link Gradients} for the products of their outputs, which
 * they rebuild too.
 */
final class Bf16Projection {

  /** The mark of {@link #apply}'s lean operation. */
  static final String MARK = "bf16_projection";

  static {
    LeanGradients.rule(MARK, Bf16Projection::gradient);
  }

  private Bf16Projection() {}

  /**
   * {@code x @ weight^T} in bfloat16, the result float32; the backward pass keeps {@code x}'s bfloat16
   * cast (the weight's gradient reads it) but not the weight's.
   *
   * @param x {@code [N, in]}
   * @param weight {@code [out, in]}, float32
   * @return {@code [N, out]}
   */
  static Operand<TFloat32> apply(Ops tf, Operand<TFloat32> x, Operand<TFloat32> weight) {
    Operand<TBfloat16> xHalf = half(tf, x); // [N, in]
    Operand<TFloat32> product = Precision.BFLOAT16.matMul(tf, xHalf, weight, true); // [N, out]
    return LeanGradients.marked(tf, MARK, product, List.of(xHalf, weight));
  }

  /**
   * TensorFlow's gradients of {@code Cast(MatMul(xHalf, Cast(W), transpose_b))} given the result's
   * gradient, with the weight cast again in the backward pass: the result cast's gradient ({@code dOut}
   * in bfloat16) and the input's; the weight's once the caller has {@code xHalf} ({@link #weight}: kept,
   * or rebuilt in the backward pass).
   *
   * @param dOutHalf {@code [N, out]}
   * @param input the input's gradient, bfloat16 (the product's operand's type), {@code [N, in]}
   */
  record Gradients(Operand<TBfloat16> dOutHalf, Operand<TBfloat16> input) {

    /**
     * @param dOut {@code [N, out]}, float32
     * @param weight {@code [out, in]}, float32
     */
    static Gradients of(Ops tf, Operand<TFloat32> dOut, Operand<TFloat32> weight) {
      Operand<TBfloat16> dOutHalf = half(tf, dOut); // [N, out]
      Operand<TBfloat16> weightHalf = half(tf, LeanGradients.after(tf, weight, dOut)); // [out, in]
      return new Gradients(dOutHalf, LeanGradients.productInputGradient(tf, dOutHalf, weightHalf)); // [N, in]
    }

    /** The weight's gradient in float32 (its cast's gradient), {@code [out, in]}, from the input's cast. */
    Operand<TFloat32> weight(Ops tf, Operand<TBfloat16> inputHalf) {
      return Precision.float32(tf, LeanGradients.productWeightGradient(tf, dOutHalf, inputHalf)); // [out, in]
    }
  }

  /** {@code x} as bfloat16. */
  static Operand<TBfloat16> half(Ops tf, Operand<TFloat32> x) {
    return Precision.as(tf, x, TBfloat16.class);
  }

  @SuppressWarnings("unchecked")
  private static List<Operand<?>> gradient(Ops tf, GraphOperation op, List<Output<?>> grads) {
    Operand<TFloat32> dOut = (Operand<TFloat32>) grads.get(0); // [N, out]
    Operand<TBfloat16> xHalf = (Operand<TBfloat16>) op.input(1); // [N, in]
    Operand<TFloat32> weight = (Operand<TFloat32>) op.input(2); // [out, in]
    Gradients g = Gradients.of(tf, dOut, weight);
    return List.of(dOut, g.input(), g.weight(tf, xHalf));
  }
}
