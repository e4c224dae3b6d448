package dev.tfdpo.ops;

import org.tensorflow.Operand;
import org.tensorflow.op.Ops;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.family.TNumber;

/**
 * Dense building blocks of a Llama decoder, each in Hugging Face's operation order. Activations are
 * float32 in and out; the projections run in a {@link Precision} (weights of any float type are cast
 * to it), everything else in float32.
 */
public final class Layers {

  private Layers() {}

  /**
   * RMSNorm: {@code w * (x * rsqrt(mean(x^2, -1) + eps))}, the order transformers' LlamaRMSNorm uses; its
   * backward pass keeps only {@code x} and the inverse RMS ({@link RmsNorm}).
   *
   * @param x {@code [..., H]}
   * @param weight {@code [H]}, float32 or a bfloat16-stored frozen weight (computed in float32)
   */
  public static Operand<TFloat32> rmsNorm(
      Ops tf, Operand<TFloat32> x, Operand<? extends TNumber> weight, float eps) {
    return RmsNorm.apply(tf, x, weight, eps);
  }

  /**
   * A projection with the weight in Hugging Face layout: {@code x @ W^T + b}.
   *
   * @param x {@code [N, in]}
   * @param weight {@code [out, in]}
   * @param bias {@code [out]}, or null
   * @return {@code [N, out]}
   */
  public static Operand<TFloat32> linear(
      Ops tf, Operand<TFloat32> x, Operand<? extends TNumber> weight, Operand<? extends TNumber> bias) {
    return linear(tf, x, weight, bias, Precision.FLOAT32);
  }

  /**
   * {@link #linear(Ops, Operand, Operand, Operand)} with the product in {@code precision}; the bias is
   * added in float32 to the float32 result.
   */
  public static Operand<TFloat32> linear(Ops tf, Operand<TFloat32> x, Operand<? extends TNumber> weight,
      Operand<? extends TNumber> bias, Precision precision) {
    Operand<TFloat32> y = product(tf, x, weight, precision); // [N, out]
    return bias == null ? y : tf.math.add(y, Precision.float32(tf, bias)); // [N, out]
  }

  /**
   * {@code x @ weight^T} in {@code precision}, lean where it can be: a product of an RMSNorm's output
   * rebuilds that output for its weight gradient ({@link RmsNorm}), a bfloat16 product of a float32 weight
   * casts the weight again in the backward pass ({@link Bf16Projection}).
   */
  @SuppressWarnings("unchecked")
  private static Operand<TFloat32> product(Ops tf, Operand<TFloat32> x, Operand<? extends TNumber> weight,
      Precision precision) {
    if (weight.type() != TFloat32.class) { // a frozen weight stored in bfloat16: no gradient
      return precision.matMul(tf, x, weight, true); // [N, out]
    }
    Operand<TFloat32> w = (Operand<TFloat32>) weight; // [out, in]
    if (RmsNorm.isLean(x)) {
      return RmsNorm.project(tf, x, w, precision); // [N, out]
    }
    return precision == Precision.BFLOAT16 && LeanGradients.active()
        ? Bf16Projection.apply(tf, x, w) // [N, out]
        : precision.matMul(tf, x, w, true); // [N, out]
  }

  /** SiLU: {@code x * sigmoid(x)}. */
  public static Operand<TFloat32> silu(Ops tf, Operand<TFloat32> x) {
    return tf.math.mul(x, tf.math.sigmoid(x));
  }

  /** LoRA adapters on the MLP's three projections ({@link LowRank}); a null one leaves its projection as it is. */
  public record MlpAdapters(LowRank gate, LowRank up, LowRank down) {
    /** No adapter anywhere. */
    public static final MlpAdapters NONE = new MlpAdapters(null, null, null);
  }

  /**
   * The SwiGLU MLP: {@code down(silu(gate(x)) * up(x))}, projections in {@code precision}, each plus
   * its LoRA term if any (the adapter's products in {@code precision} too).
   *
   * @param x {@code [N, H]}
   * @return {@code [N, H]}
   */
  public static Operand<TFloat32> swiGlu(
      Ops tf,
      Operand<TFloat32> x,
      Operand<? extends TNumber> gateW,
      Operand<? extends TNumber> gateB,
      Operand<? extends TNumber> upW,
      Operand<? extends TNumber> upB,
      Operand<? extends TNumber> downW,
      Operand<? extends TNumber> downB,
      Precision precision,
      MlpAdapters adapters) {
    // Two products, not one over the weights concatenated: that concatenation is a copy of both weights,
    // and the backward pass keeps it alive (a MatMul's gradient reads its weight input) for the whole step.
    Operand<TFloat32> gate = LowRank.add(tf, linear(tf, x, gateW, gateB, precision), x, adapters.gate(), precision); // [N, F]
    Operand<TFloat32> up = LowRank.add(tf, linear(tf, x, upW, upB, precision), x, adapters.up(), precision); // [N, F]
    if (adapters.down() == null && downW.type() == TFloat32.class) {
      // The product and the down projection, their backward pass keeping gate and up only (GatedSilu).
      @SuppressWarnings("unchecked")
      Operand<TFloat32> down = GatedSilu.project(tf, gate, up, (Operand<TFloat32>) downW, precision); // [N, H]
      return downB == null ? down : tf.math.add(down, Precision.float32(tf, downB)); // [N, H]
    }
    // silu(gate) * up, its backward pass keeping gate and up only (GatedSilu); the projection (with an
    // adapter reading the product, or of a bfloat16-stored frozen weight) keeps what it reads.
    Operand<TFloat32> activated = GatedSilu.apply(tf, gate, up); // [N, F]
    Operand<TFloat32> down = linear(tf, activated, downW, downB, precision); // [N, H]
    return LowRank.add(tf, down, activated, adapters.down(), precision); // [N, H]
  }
}
