package dev.tfdpo.ops;

import java.util.List;
import org.tensorflow.Operand;
import org.tensorflow.op.Ops;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt32;

/**
 * Rotary position embeddings in transformers' "rotate half" convention: the head dimension is split
 * into two halves {@code (x1, x2)} and rotated as {@code x * cos + concat(-x2, x1) * sin}.
 */
public final class Rope {

  /** Cosine and sine tables for a batch of positions, each {@code [R, L, 1, D]}. */
  public record Tables(Operand<TFloat32> cos, Operand<TFloat32> sin) {}

  private Rope() {}

  /**
   * Builds the tables from position ids. The angle is {@code position * inv_freq} in float32, as
   * transformers computes it, so positions of packed rows may restart anywhere.
   *
   * @param positionIds {@code [R, L]}
   * @param inverseFrequencies {@code D/2} values, already scaled for the rope type
   */
  public static Tables tables(Ops tf, Operand<TInt32> positionIds, float[] inverseFrequencies) {
    Operand<TFloat32> positions = tf.dtypes.cast(positionIds, TFloat32.class); // [R, L]
    Operand<TFloat32> posColumn = tf.expandDims(positions, tf.constant(-1)); // [R, L, 1]
    Operand<TFloat32> invFreq = tf.constant(inverseFrequencies); // [D/2]
    Operand<TFloat32> freqs = tf.math.mul(posColumn, invFreq); // [R, L, D/2]
    Operand<TFloat32> angles = tf.concat(List.of(freqs, freqs), tf.constant(-1)); // [R, L, D]
    Operand<TFloat32> anglesPerHead = tf.expandDims(angles, tf.constant(2)); // [R, L, 1, D]
    return new Tables(tf.math.cos(anglesPerHead), tf.math.sin(anglesPerHead));
  }

  /**
   * Rotates queries or keys.
   *
   * @param x {@code [R, L, heads, D]}
   */
  public static Operand<TFloat32> apply(Ops tf, Operand<TFloat32> x, Tables t) {
    List<org.tensorflow.Output<TFloat32>> halves = tf.split(tf.constant(-1), x, 2L).output(); // 2 x [R, L, heads, D/2]
    Operand<TFloat32> rotated =
        tf.concat(List.of(tf.math.neg(halves.get(1)), halves.get(0)), tf.constant(-1)); // [R, L, heads, D]
    Operand<TFloat32> cosPart = tf.math.mul(x, t.cos()); // [R, L, heads, D]
    Operand<TFloat32> sinPart = tf.math.mul(rotated, t.sin()); // [R, L, heads, D]
    return tf.math.add(cosPart, sinPart);
  }
}
