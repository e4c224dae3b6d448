package dev.tfdpo.ops;

import org.tensorflow.Operand;
import org.tensorflow.op.Ops;
import java.util.List;
import org.tensorflow.op.train.BatchMatMul;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt32;

/**
 * Grouped-query self-attention with rotary embeddings and an additive mask.
 *
 * <p>Query heads are grouped under their key/value head by a reshape instead of copying keys and
 * values once per query head (transformers' {@code repeat_kv}): query head {@code j*G + g} attends
 * with key/value head j, as in transformers, and neither the copies nor their gradient sums are ever
 * built.
 */
public final class Attention {

  /** The projections of one attention block, weights in Hugging Face layout; biases may be null. */
  public record Weights(
      Operand<TFloat32> q,
      Operand<TFloat32> qBias,
      Operand<TFloat32> k,
      Operand<TFloat32> kBias,
      Operand<TFloat32> v,
      Operand<TFloat32> vBias,
      Operand<TFloat32> o,
      Operand<TFloat32> oBias) {}

  /** Head layout: query heads, key/value heads and the per-head dimension. */
  public record Heads(int query, int keyValue, int dim) {}

  /**
   * A masked position's score: the lowest finite float, so a fully masked row (padding) stays finite
   * and its uniform softmax does no harm; real rows always see at least themselves. Added to a score
   * of ordinary size it stays exactly this value, so the sum equals what a select would give.
   */
  static final float MASKED_SCORE = -Float.MAX_VALUE;

  private Attention() {}

  /**
   * @param x normalised hidden states {@code [N, H]} with {@code N = R * L}
   * @param rowsAndLength {@code [R, L]} as a shape tensor
   * @param maskBias {@code [R, 1, L, L]} from {@link AttentionMask#bias}: 0 where attention is
   *     allowed, {@link #MASKED_SCORE} elsewhere
   * @return {@code [N, H]}
   */
  public static Operand<TFloat32> selfAttention(
      Ops tf,
      Operand<TFloat32> x,
      Operand<TInt32> rowsAndLength,
      Weights w,
      Heads heads,
      Rope.Tables rope,
      Operand<TFloat32> maskBias) {
    int d = heads.dim();
    int kv = heads.keyValue();
    int groups = heads.query() / kv;

    Operand<TFloat32> q = Layers.linear(tf, x, w.q(), w.qBias()); // [N, Hq*D]
    Operand<TFloat32> k = Layers.linear(tf, x, w.k(), w.kBias()); // [N, Hkv*D]
    Operand<TFloat32> v = Layers.linear(tf, x, w.v(), w.vBias()); // [N, Hkv*D]
    Operand<TFloat32> q4 = tf.reshape(q, Shapes.concat(tf, rowsAndLength, heads.query(), d)); // [R, L, Hq, D]
    Operand<TFloat32> k4 = tf.reshape(k, Shapes.concat(tf, rowsAndLength, kv, d)); // [R, L, Hkv, D]
    Operand<TFloat32> v4 = tf.reshape(v, Shapes.concat(tf, rowsAndLength, kv, d)); // [R, L, Hkv, D]

    Operand<TFloat32> qRot = Rope.apply(tf, q4, rope); // [R, L, Hq, D]
    Operand<TFloat32> kRot = Rope.apply(tf, k4, rope); // [R, L, Hkv, D]
    Operand<TInt32> rows = tf.slice(rowsAndLength, tf.constant(new int[] {0}), tf.constant(new int[] {1})); // [1] = R
    Operand<TInt32> length = tf.slice(rowsAndLength, tf.constant(new int[] {1}), tf.constant(new int[] {1})); // [1] = L
    Operand<TFloat32> qGrouped =
        tf.reshape(qRot, Shapes.concat(tf, rowsAndLength, kv, groups, d)); // [R, L, Hkv, G, D]
    Operand<TFloat32> qByKv =
        tf.linalg.transpose(qGrouped, tf.constant(new int[] {0, 2, 3, 1, 4})); // [R, Hkv, G, L, D]
    Operand<TFloat32> qFlat = tf.reshape(qByKv, Shapes.concat(tf, rows, kv, -1, d)); // [R, Hkv, G*L, D]
    int[] toHeadsFirst = {0, 2, 1, 3};
    Operand<TFloat32> kh = tf.linalg.transpose(kRot, tf.constant(toHeadsFirst)); // [R, Hkv, L, D]
    Operand<TFloat32> vh = tf.linalg.transpose(v4, tf.constant(toHeadsFirst)); // [R, Hkv, L, D]

    Operand<TFloat32> scores =
        tf.train.batchMatMul(qFlat, kh, TFloat32.class, BatchMatMul.adjY(true)); // [R, Hkv, G*L, L]
    Operand<TInt32> perHeadShape =
        tf.concat(List.of(rows, tf.constant(new int[] {heads.query()}), length, length), tf.constant(0)); // [4]
    Operand<TFloat32> perHead = tf.reshape(scores, perHeadShape); // [R, Hq, L, L]
    Operand<TFloat32> scaled = tf.math.mul(perHead, tf.constant((float) (1.0 / Math.sqrt(d)))); // [R, Hq, L, L]
    Operand<TFloat32> masked = tf.math.add(scaled, maskBias); // [R, Hq, L, L]
    Operand<TFloat32> probs = tf.nn.softmax(masked); // [R, Hq, L, L]
    Operand<TInt32> byKvShape =
        tf.concat(List.of(rows, tf.constant(new int[] {kv, -1}), length), tf.constant(0)); // [4]
    Operand<TFloat32> probsByKv = tf.reshape(probs, byKvShape); // [R, Hkv, G*L, L]
    Operand<TFloat32> context = tf.train.batchMatMul(probsByKv, vh, TFloat32.class); // [R, Hkv, G*L, D]

    Operand<TInt32> groupedShape =
        tf.concat(List.of(rows, tf.constant(new int[] {kv, groups}), length, tf.constant(new int[] {d})),
            tf.constant(0)); // [5]
    Operand<TFloat32> contextGrouped = tf.reshape(context, groupedShape); // [R, Hkv, G, L, D]
    Operand<TFloat32> contextRows =
        tf.linalg.transpose(contextGrouped, tf.constant(new int[] {0, 3, 1, 2, 4})); // [R, L, Hkv, G, D]
    Operand<TFloat32> merged = tf.reshape(contextRows, tf.constant(new int[] {-1, heads.query() * d})); // [N, Hq*D]
    return Layers.linear(tf, merged, w.o(), w.oBias()); // [N, H]
  }
}
