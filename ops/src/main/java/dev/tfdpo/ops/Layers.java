package dev.tfdpo.ops;

import java.util.List;
import org.tensorflow.Operand;
import org.tensorflow.Output;
import org.tensorflow.op.Ops;
import org.tensorflow.op.linalg.MatMul;
import org.tensorflow.op.math.Mean;
import org.tensorflow.types.TFloat32;

/** Dense building blocks of a Llama decoder, each in Hugging Face's operation order. */
public final class Layers {

  private Layers() {}

  /**
   * RMSNorm: {@code w * (x * rsqrt(mean(x^2, -1) + eps))}, the order transformers' LlamaRMSNorm uses.
   *
   * @param x {@code [..., H]}
   * @param weight {@code [H]}
   */
  public static Operand<TFloat32> rmsNorm(
      Ops tf, Operand<TFloat32> x, Operand<TFloat32> weight, float eps) {
    Operand<TFloat32> squares = tf.math.square(x); // [..., H]
    Operand<TFloat32> variance = tf.math.mean(squares, tf.constant(-1), Mean.keepDims(true)); // [..., 1]
    Operand<TFloat32> inverseRms = tf.math.rsqrt(tf.math.add(variance, tf.constant(eps))); // [..., 1]
    Operand<TFloat32> normed = tf.math.mul(x, inverseRms); // [..., H]
    return tf.math.mul(weight, normed); // [..., H]
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
      Ops tf, Operand<TFloat32> x, Operand<TFloat32> weight, Operand<TFloat32> bias) {
    Operand<TFloat32> y = tf.linalg.matMul(x, weight, MatMul.transposeB(true)); // [N, out]
    return bias == null ? y : tf.math.add(y, bias);
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

  /** {@link #swiGlu(Ops, Operand, Operand, Operand, Operand, Operand, Operand, Operand, MlpAdapters)} without adapters. */
  public static Operand<TFloat32> swiGlu(
      Ops tf,
      Operand<TFloat32> x,
      Operand<TFloat32> gateW,
      Operand<TFloat32> gateB,
      Operand<TFloat32> upW,
      Operand<TFloat32> upB,
      Operand<TFloat32> downW,
      Operand<TFloat32> downB) {
    return swiGlu(tf, x, gateW, gateB, upW, upB, downW, downB, MlpAdapters.NONE);
  }

  /**
   * The SwiGLU MLP: {@code down(silu(gate(x)) * up(x))}, each projection plus its LoRA term if any.
   *
   * @param x {@code [N, H]}
   * @return {@code [N, H]}
   */
  public static Operand<TFloat32> swiGlu(
      Ops tf,
      Operand<TFloat32> x,
      Operand<TFloat32> gateW,
      Operand<TFloat32> gateB,
      Operand<TFloat32> upW,
      Operand<TFloat32> upB,
      Operand<TFloat32> downW,
      Operand<TFloat32> downB,
      MlpAdapters adapters) {
    // One [N, H] x [H, 2F] product instead of two.
    Operand<TFloat32> gateUpW = tf.concat(List.of(gateW, upW), tf.constant(0)); // [2F, H]
    Operand<TFloat32> gateUpB =
        gateB == null ? null : tf.concat(List.of(gateB, upB), tf.constant(0)); // [2F]
    Operand<TFloat32> gateUp = linear(tf, x, gateUpW, gateUpB); // [N, 2F]
    List<Output<TFloat32>> halves = tf.split(tf.constant(1), gateUp, 2L).output(); // 2 x [N, F]
    Operand<TFloat32> gate = LowRank.add(tf, halves.get(0), x, adapters.gate()); // [N, F]
    Operand<TFloat32> up = LowRank.add(tf, halves.get(1), x, adapters.up()); // [N, F]
    Operand<TFloat32> activated = tf.math.mul(silu(tf, gate), up); // [N, F]
    return LowRank.add(tf, linear(tf, activated, downW, downB), activated, adapters.down()); // [N, H]
  }
}
