package dev.tfdpo.ops;

import org.tensorflow.Operand;
import org.tensorflow.op.Ops;
import org.tensorflow.op.train.BatchMatMul;
import org.tensorflow.types.TBool;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt32;

/** Grouped-query self-attention with rotary embeddings and an explicit boolean mask. */
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
   * and its uniform softmax does no harm; real rows always see at least themselves.
   */
  static final float MASKED_SCORE = -Float.MAX_VALUE;

  private Attention() {}

  /**
   * @param x normalised hidden states {@code [N, H]} with {@code N = R * L}
   * @param rowsAndLength {@code [R, L]} as a shape tensor
   * @param mask {@code [R, 1, L, L]} from {@link AttentionMask#build}
   * @return {@code [N, H]}
   */
  public static Operand<TFloat32> selfAttention(
      Ops tf,
      Operand<TFloat32> x,
      Operand<TInt32> rowsAndLength,
      Weights w,
      Heads heads,
      Rope.Tables rope,
      Operand<TBool> mask) {
    int d = heads.dim();
    int groups = heads.query() / heads.keyValue();

    Operand<TFloat32> q = Layers.linear(tf, x, w.q(), w.qBias()); // [N, Hq*D]
    Operand<TFloat32> k = Layers.linear(tf, x, w.k(), w.kBias()); // [N, Hkv*D]
    Operand<TFloat32> v = Layers.linear(tf, x, w.v(), w.vBias()); // [N, Hkv*D]
    Operand<TFloat32> q4 = tf.reshape(q, Shapes.concat(tf, rowsAndLength, heads.query(), d)); // [R, L, Hq, D]
    Operand<TFloat32> k4 = tf.reshape(k, Shapes.concat(tf, rowsAndLength, heads.keyValue(), d)); // [R, L, Hkv, D]
    Operand<TFloat32> v4 = tf.reshape(v, Shapes.concat(tf, rowsAndLength, heads.keyValue(), d)); // [R, L, Hkv, D]

    Operand<TFloat32> qRot = Rope.apply(tf, q4, rope); // [R, L, Hq, D]
    Operand<TFloat32> kRot = Rope.apply(tf, k4, rope); // [R, L, Hkv, D]
    int[] toHeadsFirst = {0, 2, 1, 3};
    Operand<TFloat32> qh = tf.linalg.transpose(qRot, tf.constant(toHeadsFirst)); // [R, Hq, L, D]
    Operand<TFloat32> kh = repeatKeyValue(tf, tf.linalg.transpose(kRot, tf.constant(toHeadsFirst)), groups, d); // [R, Hq, L, D]
    Operand<TFloat32> vh = repeatKeyValue(tf, tf.linalg.transpose(v4, tf.constant(toHeadsFirst)), groups, d); // [R, Hq, L, D]

    Operand<TFloat32> scores =
        tf.train.batchMatMul(qh, kh, TFloat32.class, BatchMatMul.adjY(true)); // [R, Hq, L, L]
    Operand<TFloat32> scaled = tf.math.mul(scores, tf.constant((float) (1.0 / Math.sqrt(d)))); // [R, Hq, L, L]
    Operand<TFloat32> masked = tf.select(mask, scaled, tf.constant(MASKED_SCORE)); // [R, Hq, L, L]
    Operand<TFloat32> probs = tf.nn.softmax(masked); // [R, Hq, L, L]
    Operand<TFloat32> context = tf.train.batchMatMul(probs, vh, TFloat32.class); // [R, Hq, L, D]

    Operand<TFloat32> contextRows = tf.linalg.transpose(context, tf.constant(toHeadsFirst)); // [R, L, Hq, D]
    Operand<TFloat32> merged = tf.reshape(contextRows, tf.constant(new int[] {-1, heads.query() * d})); // [N, Hq*D]
    return Layers.linear(tf, merged, w.o(), w.oBias()); // [N, H]
  }

  /**
   * transformers' {@code repeat_kv}: key/value head j serves query heads {@code j*groups ..
   * (j+1)*groups-1}.
   *
   * @param x {@code [R, Hkv, L, D]}
   * @return {@code [R, Hkv*groups, L, D]}
   */
  static Operand<TFloat32> repeatKeyValue(Ops tf, Operand<TFloat32> x, int groups, int d) {
    if (groups == 1) {
      return x;
    }
    Operand<TFloat32> expanded = tf.expandDims(x, tf.constant(2)); // [R, Hkv, 1, L, D]
    Operand<TFloat32> tiled = tf.tile(expanded, tf.constant(new int[] {1, 1, groups, 1, 1})); // [R, Hkv, G, L, D]
    Operand<TInt32> rows = Shapes.leading(tf, x, 1); // [1] = R
    Operand<TInt32> length = tf.slice(tf.shape(x), tf.constant(new int[] {2}), tf.constant(new int[] {1})); // [1] = L
    Operand<TInt32> kvHeads = tf.slice(tf.shape(x), tf.constant(new int[] {1}), tf.constant(new int[] {1})); // [1]
    Operand<TInt32> heads = tf.math.mul(kvHeads, tf.constant(new int[] {groups})); // [1]
    Operand<TInt32> shape =
        tf.concat(java.util.List.of(rows, heads, length, tf.constant(new int[] {d})), tf.constant(0));
    return tf.reshape(tiled, shape); // [R, Hkv*G, L, D]
  }
}
