package dev.tfdpo.ops;

import java.util.ArrayList;
import java.util.List;
import org.tensorflow.Operand;
import org.tensorflow.op.Ops;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt32;
import org.tensorflow.types.family.TNumber;

/**
 * Grouped-query self-attention with rotary embeddings and an additive mask, arranged for CPU speed
 * (each choice measured on the perf-llama-256 benchmark; see docs/packing-and-performance.md):
 *
 * <ul>
 *   <li>q, k and v come from one fused projection;
 *   <li>query heads are grouped under their key/value head by a reshape instead of copying keys and
 *       values once per query head (transformers' {@code repeat_kv}); query head {@code j*G + g} attends
 *       with key/value head j, as in transformers;
 *   <li>the rows are cut into {@link #CAUSAL_BLOCKS} query blocks that each meet only the keys up to
 *       their own end (the later keys are masked for them anyway);
 *   <li>the score products are einsums, which TensorFlow's oneDNN rewrite (TF_ENABLE_ONEDNN_OPTS=1)
 *       runs with its own kernels in both passes (it leaves BatchMatMulV3 and its gradient alone).
 * </ul>
 *
 * <p>In {@link Precision#BFLOAT16} the projections and both attention products (scores and context) run
 * in bfloat16; rotary embeddings, the mask and the softmax stay float32 (the mask value
 * {@link #MASKED_SCORE} is not even finite in bfloat16).
 */
public final class Attention {

  /** The projections of one attention block, weights in Hugging Face layout; biases may be null. */
  public record Weights(
      Operand<? extends TNumber> q,
      Operand<? extends TNumber> qBias,
      Operand<? extends TNumber> k,
      Operand<? extends TNumber> kBias,
      Operand<? extends TNumber> v,
      Operand<? extends TNumber> vBias,
      Operand<? extends TNumber> o,
      Operand<? extends TNumber> oBias) {}

  /**
   * LoRA adapters on the four projections ({@link LowRank}); a null component leaves its projection as
   * it is.
   */
  public record Adapters(LowRank q, LowRank k, LowRank v, LowRank o) {
    /** No adapter anywhere. */
    public static final Adapters NONE = new Adapters(null, null, null, null);
  }

  /** Head layout: query heads, key/value heads and the per-head dimension. */
  public record Heads(int query, int keyValue, int dim) {}

  /**
   * A masked position's score: the lowest finite float, so a fully masked row (padding) stays finite
   * and its uniform softmax does no harm; real rows always see at least themselves. Added to a score
   * of ordinary size it stays exactly this value, so the sum equals what a select would give.
   */
  static final float MASKED_SCORE = -Float.MAX_VALUE;

  /**
   * Query blocks of the causal split; 1 computes the full square. With n blocks the score, softmax and
   * context work is (n + 1) / 2n of the square; 2 and 3 measured alike, both ~10% faster steps than 1.
   */
  public static final int CAUSAL_BLOCKS = 3;

  private Attention() {}

  /**
   * @param x normalised hidden states {@code [N, H]} with {@code N = R * L}
   * @param rowsAndLength {@code [R, L]} as a shape tensor
   * @param maskBias {@code [R, 1, L, L]} from {@link AttentionMask#bias}: 0 where attention is
   *     allowed, {@link #MASKED_SCORE} elsewhere
   * @param precision of the projections, their LoRA products and the two attention products
   * @param adapters LoRA adapters added to the projections' outputs ({@link Adapters#NONE}: none)
   * @return {@code [N, H]}
   */
  public static Operand<TFloat32> selfAttention(
      Ops tf,
      Operand<TFloat32> x,
      Operand<TInt32> rowsAndLength,
      Weights w,
      Heads heads,
      Rope.Tables rope,
      Operand<TFloat32> maskBias,
      Precision precision,
      Adapters adapters) {
    Projected p = project(tf, x, rowsAndLength, w, heads, rope, precision, adapters);
    Operand<TFloat32> merged = core(tf, p, rowsAndLength, heads, maskBias, precision); // [N, Hq*D]
    return output(tf, merged, w, precision, adapters); // [N, H]
  }

  /**
   * Queries, keys and values in the layout {@link #core} reads: rotated, queries scaled by 1/sqrt(D)
   * and grouped under their key/value head, heads before positions.
   *
   * @param queries {@code [R, Hkv, G, L, D]}
   * @param keys {@code [R, Hkv, L, D]}
   * @param values {@code [R, Hkv, L, D]}
   */
  public record Projected(Operand<TFloat32> queries, Operand<TFloat32> keys, Operand<TFloat32> values) {

    /** The three as a list, in record order (a recompute block's boundary). */
    public List<Operand<TFloat32>> asList() {
      return List.of(queries, keys, values);
    }
  }

  /**
   * The projections and rotary embedding of {@link #selfAttention}, up to the score products.
   *
   * @param x normalised hidden states {@code [N, H]}
   * @param precision of the projections and their LoRA products
   * @param adapters LoRA adapters of q, k and v ({@link Adapters#NONE}: none)
   */
  public static Projected project(Ops tf, Operand<TFloat32> x, Operand<TInt32> rowsAndLength, Weights w,
      Heads heads, Rope.Tables rope, Precision precision, Adapters adapters) {
    int d = heads.dim();
    int kv = heads.keyValue();
    int groups = heads.query() / kv;

    // Three products, not one over the weights concatenated: that concatenation is a copy of the three
    // weights, and the backward pass keeps it alive (a MatMul's gradient reads its weight input).
    Operand<TFloat32> q = LowRank.add(tf, Layers.linear(tf, x, w.q(), w.qBias(), precision), x, adapters.q(), precision); // [N, Hq*D]
    Operand<TFloat32> k = LowRank.add(tf, Layers.linear(tf, x, w.k(), w.kBias(), precision), x, adapters.k(), precision); // [N, Hkv*D]
    Operand<TFloat32> v = LowRank.add(tf, Layers.linear(tf, x, w.v(), w.vBias(), precision), x, adapters.v(), precision); // [N, Hkv*D]
    Operand<TFloat32> q4 = tf.reshape(q, Shapes.concat(tf, rowsAndLength, heads.query(), d)); // [R, L, Hq, D]
    Operand<TFloat32> k4 = tf.reshape(k, Shapes.concat(tf, rowsAndLength, kv, d)); // [R, L, Hkv, D]
    Operand<TFloat32> v4 = tf.reshape(v, Shapes.concat(tf, rowsAndLength, kv, d)); // [R, L, Hkv, D]

    // The 1/sqrt(D) score scale is applied to the queries ([R, L, Hq, D]) rather than to the scores
    // ([R, Hq, L, L], and again in the backward pass). For a power-of-two scale (D = 4^k) the result is
    // bitwise the same; otherwise scores may differ from transformers' order by an ulp.
    Operand<TFloat32> qRotated = Rope.apply(tf, q4, rope); // [R, L, Hq, D]
    Operand<TFloat32> qRot = tf.math.mul(qRotated, tf.constant((float) (1.0 / Math.sqrt(d)))); // [R, L, Hq, D]
    Operand<TFloat32> kRot = Rope.apply(tf, k4, rope); // [R, L, Hkv, D]
    Operand<TFloat32> qGrouped =
        tf.reshape(qRot, Shapes.concat(tf, rowsAndLength, kv, groups, d)); // [R, L, Hkv, G, D]
    Operand<TFloat32> qByKv =
        tf.linalg.transpose(qGrouped, tf.constant(new int[] {0, 2, 3, 1, 4})); // [R, Hkv, G, L, D]
    int[] toHeadsFirst = {0, 2, 1, 3};
    Operand<TFloat32> kh = tf.linalg.transpose(kRot, tf.constant(toHeadsFirst)); // [R, Hkv, L, D]
    Operand<TFloat32> vh = tf.linalg.transpose(v4, tf.constant(toHeadsFirst)); // [R, Hkv, L, D]
    return new Projected(qByKv, kh, vh);
  }

  /**
   * The core of {@link #selfAttention}: {@code softmax(q k^T + mask) v} per head, in causal blocks
   * (PaddleNLP's {@code core_attn} recompute unit: the part whose activations grow with {@code L^2}).
   *
   * @param precision of the two attention products (the softmax stays float32)
   * @return the heads' contexts merged, {@code [N, Hq*D]}
   */
  public static Operand<TFloat32> core(Ops tf, Projected p, Operand<TInt32> rowsAndLength, Heads heads,
      Operand<TFloat32> maskBias, Precision precision) {
    int d = heads.dim();
    int kv = heads.keyValue();
    int groups = heads.query() / kv;
    Operand<TFloat32> qByKv = p.queries(); // [R, Hkv, G, L, D]
    Operand<TFloat32> kh = p.keys(); // [R, Hkv, L, D]
    Operand<TFloat32> vh = p.values(); // [R, Hkv, L, D]
    Operand<TInt32> rows = tf.slice(rowsAndLength, tf.constant(new int[] {0}), tf.constant(new int[] {1})); // [1] = R
    Operand<TInt32> length = tf.slice(rowsAndLength, tf.constant(new int[] {1}), tf.constant(new int[] {1})); // [1] = L
    // Cast once here, not per block: the blocks' key prefixes overlap.
    Operand<? extends TNumber> qProduct = precision.cast(tf, qByKv); // [R, Hkv, G, L, D]
    Operand<? extends TNumber> kProduct = precision.cast(tf, kh); // [R, Hkv, L, D]
    Operand<? extends TNumber> vProduct = precision.cast(tf, vh); // [R, Hkv, L, D]

    // Causal blocks: the rows are cut into CAUSAL_BLOCKS query blocks, and block i only meets the keys
    // up to its own end; the keys after it are masked for all its queries anyway. With n blocks the
    // score, softmax and context work is (n + 1) / 2n of the full square.
    Operand<TInt32> len = tf.reshape(length, tf.constant(new int[0])); // [] = L
    Operand<TInt32> blockSize =
        tf.math.floorDiv(tf.math.add(len, tf.constant(CAUSAL_BLOCKS - 1)), tf.constant(CAUSAL_BLOCKS)); // []
    List<Operand<TFloat32>> contexts = new ArrayList<>();
    for (int i = 0; i < CAUSAL_BLOCKS; i++) {
      Operand<TInt32> begin = tf.math.minimum(tf.math.mul(blockSize, tf.constant(i)), len); // []
      Operand<TInt32> end = tf.math.minimum(tf.math.mul(blockSize, tf.constant(i + 1)), len); // []
      Operand<TInt32> size = tf.math.sub(end, begin); // []
      Operand<TInt32> beginV = tf.reshape(begin, tf.constant(new int[] {1})); // [1]
      Operand<TInt32> sizeV = tf.reshape(size, tf.constant(new int[] {1})); // [1]
      Operand<TInt32> endV = tf.reshape(end, tf.constant(new int[] {1})); // [1]
      Operand<TInt32> zero = tf.constant(new int[] {0}); // [1]
      Operand<TInt32> all = tf.constant(new int[] {-1}); // [1]: a slice size meaning "to the end"

      Operand<TInt32> qBlockBegin = Shapes.join(tf, tf.constant(new int[] {0, 0, 0}), beginV, zero); // [5]
      Operand<TInt32> qBlockSize = Shapes.join(tf, tf.constant(new int[] {-1, -1, -1}), sizeV, all); // [5]
      Operand<? extends TNumber> qBlock = tf.slice(qProduct, qBlockBegin, qBlockSize); // [R, Hkv, G, Lq, D]
      Operand<? extends TNumber> qFlat = tf.reshape(qBlock, Shapes.concat(tf, rows, kv, -1, d)); // [R, Hkv, G*Lq, D]
      Operand<TInt32> prefix = Shapes.join(tf, tf.constant(new int[] {-1, -1}), endV, all); // [4]
      Operand<? extends TNumber> kPrefix = tf.slice(kProduct, tf.constant(new int[] {0, 0, 0, 0}), prefix); // [R, Hkv, Lk, D]
      Operand<? extends TNumber> vPrefix = tf.slice(vProduct, tf.constant(new int[] {0, 0, 0, 0}), prefix); // [R, Hkv, Lk, D]

      Operand<TInt32> biasBegin = Shapes.join(tf, tf.constant(new int[] {0, 0}), beginV, zero); // [4]
      Operand<TInt32> biasSize = Shapes.join(tf, tf.constant(new int[] {-1, -1}), sizeV, endV); // [4]
      Operand<TFloat32> blockBias = tf.slice(maskBias, biasBegin, biasSize); // [R, 1, Lq, Lk]
      Operand<TFloat32> context = AttentionBlock.apply(tf, qFlat, kPrefix, vPrefix, blockBias); // [R, Hkv, G*Lq, D]
      Operand<TInt32> groupedShape =
          Shapes.join(tf, rows, tf.constant(new int[] {kv, groups}), sizeV, tf.constant(new int[] {d})); // [5]
      contexts.add(tf.reshape(context, groupedShape)); // [R, Hkv, G, Lq, D]
    }
    Operand<TFloat32> contextGrouped =
        contexts.size() == 1 ? contexts.get(0) : tf.concat(contexts, tf.constant(3)); // [R, Hkv, G, L, D]
    Operand<TFloat32> contextRows =
        tf.linalg.transpose(contextGrouped, tf.constant(new int[] {0, 3, 1, 2, 4})); // [R, L, Hkv, G, D]
    return tf.reshape(contextRows, tf.constant(new int[] {-1, heads.query() * d})); // [N, Hq*D]
  }

  /**
   * The output projection of {@link #selfAttention}.
   *
   * @param merged {@code [N, Hq*D]} from {@link #core}
   * @param precision of the projection and its LoRA product
   * @param adapters the LoRA adapter of o ({@link Adapters#NONE}: none)
   * @return {@code [N, H]}
   */
  public static Operand<TFloat32> output(Ops tf, Operand<TFloat32> merged, Weights w, Precision precision,
      Adapters adapters) {
    Operand<TFloat32> projected = Layers.linear(tf, merged, w.o(), w.oBias(), precision); // [N, H]
    return LowRank.add(tf, projected, merged, adapters.o(), precision); // [N, H]
  }
}
