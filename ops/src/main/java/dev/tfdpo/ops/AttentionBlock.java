package dev.tfdpo.ops;

import java.util.List;
import org.tensorflow.GraphOperation;
import org.tensorflow.Operand;
import org.tensorflow.Output;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Sum;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt32;
import org.tensorflow.types.family.TNumber;

/**
 * One causal block of attention, {@code softmax(q k^T + bias) v}, whose backward pass keeps only q, k and
 * v (as flash attention's does): the probabilities are rebuilt there.
 *
 * <p>Differentiated as written, TensorFlow's gradient keeps the softmax's output {@code [R, Hq, Lq, Lk]}
 * from the forward to the backward pass (the softmax's gradient and the context product's gradient for v
 * both read it; in bfloat16 also its bfloat16 copy). That is the largest tensor of a decoder layer at the
 * usual lengths (5.8 of the 31 MB a 135M-shape layer kept at 250 tokens per row) and grows with the
 * square of the length. Here the forward value is a lean operation ({@link LeanGradients}) whose gradient
 * recomputes the scores and the softmax from q and k once the context's gradient exists, then applies
 * exactly TensorFlow's own gradient operations: the two {@code Einsum} gradients (the other operand times
 * the incoming gradient), {@code Softmax}'s {@code (dy - sum(dy * y)) * y}, the casts' gradients in
 * bfloat16. Values and gradients are bitwise those of the plain form; the backward pass pays one score
 * product and one softmax more per block (about 1% of a 135M-shape step).
 */
final class AttentionBlock {

  /** The mark of the lean operation. */
  static final String MARK = "attention_block";

  private static final String SCORES = "abqd,abkd->abqk";
  private static final String CONTEXT = "abqk,abkd->abqd";

  static {
    LeanGradients.rule(MARK, AttentionBlock::gradient);
  }

  private AttentionBlock() {}

  /**
   * {@code softmax(q k^T + bias) v} with the query heads grouped under their key/value head.
   *
   * @param queries {@code [R, Hkv, G*Lq, D]} in the product precision, already scaled by 1/sqrt(D)
   * @param keys {@code [R, Hkv, Lk, D]} in the product precision
   * @param values {@code [R, Hkv, Lk, D]} in the product precision
   * @param bias {@code [R, 1, Lq, Lk]}: 0 where attention is allowed, a very negative score elsewhere
   * @return the contexts, float32, {@code [R, Hkv, G*Lq, D]}
   */
  static Operand<TFloat32> apply(Ops tf, Operand<? extends TNumber> queries, Operand<? extends TNumber> keys,
      Operand<? extends TNumber> values, Operand<TFloat32> bias) {
    Operand<TFloat32> probs = probabilities(tf, queries, keys, bias); // [R, Hkv, G*Lq, Lk]
    Operand<TFloat32> context = product(tf, CONTEXT, probs, values); // [R, Hkv, G*Lq, D]
    return LeanGradients.active()
        ? LeanGradients.marked(tf, MARK, context, List.of(queries, keys, values, tf.stopGradient(bias)))
        : context;
  }

  /**
   * The softmax of the masked scores, float32, in the grouped layout {@code [R, Hkv, G*Lq, Lk]}; the mask
   * is added per query head ({@code [R, Hq, Lq, Lk]}), as the bias has one row block per query position.
   */
  private static Operand<TFloat32> probabilities(Ops tf, Operand<? extends TNumber> queries,
      Operand<? extends TNumber> keys, Operand<TFloat32> bias) {
    Operand<TFloat32> scores = product(tf, SCORES, queries, keys); // [R, Hkv, G*Lq, Lk]
    Operand<TFloat32> perHead = tf.reshape(scores, perHeadShape(tf, bias)); // [R, Hq, Lq, Lk]
    Operand<TFloat32> probs = tf.nn.softmax(tf.math.add(perHead, bias)); // [R, Hq, Lq, Lk]
    return tf.reshape(probs, tf.shape(scores)); // [R, Hkv, G*Lq, Lk]
  }

  /** {@code [R, -1, Lq, Lk]}: the bias's shape with the query heads (Hkv * G) for its 1. */
  private static Operand<TInt32> perHeadShape(Ops tf, Operand<TFloat32> bias) {
    Operand<TInt32> biasShape = tf.shape(bias); // [4]
    Operand<TInt32> rows = tf.slice(biasShape, tf.constant(new int[] {0}), tf.constant(new int[] {1})); // [1]
    Operand<TInt32> square = tf.slice(biasShape, tf.constant(new int[] {2}), tf.constant(new int[] {2})); // [2]
    return tf.concat(List.of(rows, tf.constant(new int[] {-1}), square), tf.constant(0)); // [4]
  }

  /** A two-operand einsum in the operands' type (that of {@code y}), the result as float32. */
  private static Operand<TFloat32> product(Ops tf, String equation, Operand<? extends TNumber> x,
      Operand<? extends TNumber> y) {
    Operand<? extends TNumber> xAsY = Precision.as(tf, x, y.type()); // as the operands' type
    return Precision.float32(tf, einsum(tf, equation, xAsY, y)); // per equation
  }

  /** A two-operand einsum in the operands' (common) type. */
  @SuppressWarnings("unchecked")
  private static Operand<? extends TNumber> einsum(Ops tf, String equation, Operand<? extends TNumber> x,
      Operand<? extends TNumber> y) {
    return tf.linalg.einsum(List.of((Operand<TNumber>) x, (Operand<TNumber>) y), equation); // per equation
  }

  /**
   * TensorFlow's gradients of {@link #apply}'s operations, with the probabilities recomputed from q and k
   * after the context's gradient exists. An einsum's gradient for one operand is the einsum of the
   * incoming gradient with the other operand, onto that operand's subscripts; a cast's is the reverse
   * cast; {@code Add}'s, for the operand of the result's shape, is the gradient itself.
   */
  @SuppressWarnings("unchecked")
  private static List<Operand<?>> gradient(Ops tf, GraphOperation op, List<Output<?>> grads) {
    Operand<TFloat32> dContext = (Operand<TFloat32>) grads.get(0); // [R, Hkv, G*Lq, D]
    Operand<? extends TNumber> q = LeanGradients.after(tf, (Operand<? extends TNumber>) op.input(1), dContext);
    Operand<? extends TNumber> k = (Operand<? extends TNumber>) op.input(2); // [R, Hkv, Lk, D]
    Operand<? extends TNumber> v = (Operand<? extends TNumber>) op.input(3); // [R, Hkv, Lk, D]
    Operand<TFloat32> bias = (Operand<TFloat32>) op.input(4); // [R, 1, Lq, Lk]
    Class<? extends TNumber> type = v.type();
    Operand<TFloat32> probs = probabilities(tf, q, k, bias); // [R, Hkv, G*Lq, Lk]

    // Einsum "abqk,abkd->abqd" (probs, v): d probs = einsum(dC, v), d v = einsum(dC, probs).
    Operand<? extends TNumber> dC = Precision.as(tf, dContext, type); // [R, Hkv, G*Lq, D]
    Operand<? extends TNumber> probsT = Precision.as(tf, probs, type); // [R, Hkv, G*Lq, Lk]
    Operand<TFloat32> dProbs = Precision.float32(tf, einsum(tf, "abqd,abkd->abqk", dC, v)); // [R, Hkv, G*Lq, Lk]
    Operand<? extends TNumber> dV = einsum(tf, "abqd,abqk->abkd", dC, probsT); // [R, Hkv, Lk, D]

    // Softmax: d x = (dy - sum(dy * y, -1)) * y; the reshapes around it do not change values.
    Operand<TFloat32> dyy = tf.math.mul(dProbs, probs); // [R, Hkv, G*Lq, Lk]
    Operand<TFloat32> rowSums = tf.sum(dyy, tf.constant(-1), Sum.keepDims(true)); // [R, Hkv, G*Lq, 1]
    Operand<TFloat32> dScores = tf.math.mul(tf.math.sub(dProbs, rowSums), probs); // [R, Hkv, G*Lq, Lk]

    // Einsum "abqd,abkd->abqk" (q, k): d q = einsum(dS, k), d k = einsum(dS, q).
    Operand<? extends TNumber> dS = Precision.as(tf, dScores, type); // [R, Hkv, G*Lq, Lk]
    Operand<? extends TNumber> dQ = einsum(tf, "abqk,abkd->abqd", dS, k); // [R, Hkv, G*Lq, D]
    Operand<? extends TNumber> dK = einsum(tf, "abqk,abqd->abkd", dS, q); // [R, Hkv, Lk, D]
    return List.of(dContext, dQ, dK, dV, LeanGradients.unused(tf, op, 4));
  }
}
