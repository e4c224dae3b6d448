package dev.tfdpo.ops;

import org.tensorflow.Operand;
import org.tensorflow.op.Ops;
import org.tensorflow.types.TBool;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt32;

/**
 * The attention mask, built inside the graph from compact per-token descriptors instead of a dense
 * {@code [L, L]} tensor fed from Java.
 *
 * <p>Query token {@code q} may attend to key token {@code k} of the same row when all hold:
 * <ul>
 *   <li>{@code k <= q} (causal, by index in the row);
 *   <li>{@code segment[k] == segment[q]} and {@code segment[k] != 0} (0 marks padding);
 *   <li>{@code branch[k] == 0 || branch[k] == branch[q]}: branch 0 is shared (a prompt), branches 1 and
 *       2 are alternatives that see the shared part and themselves but not each other (chosen and
 *       rejected packed after one prompt, as in PaddleNLP's DPO sequence construction).
 * </ul>
 * An unpacked, right-padded batch is the special case of one segment per row and branch 0 everywhere.
 */
public final class AttentionMask {

  private AttentionMask() {}

  /**
   * @param segmentIds {@code [R, L]}, 0 on padding
   * @param branchIds {@code [R, L]}, 0 on shared tokens
   * @return {@code [R, 1, L, L]}, true where attention is allowed (broadcasts over heads)
   */
  public static Operand<TBool> build(Ops tf, Operand<TInt32> segmentIds, Operand<TInt32> branchIds) {
    Operand<TInt32> segQ = tf.expandDims(segmentIds, tf.constant(2)); // [R, L, 1]
    Operand<TInt32> segK = tf.expandDims(segmentIds, tf.constant(1)); // [R, 1, L]
    Operand<TBool> sameSegment = tf.math.equal(segQ, segK); // [R, L, L]
    Operand<TBool> keyIsReal = tf.math.notEqual(segK, tf.constant(0)); // [R, 1, L]

    Operand<TInt32> branchQ = tf.expandDims(branchIds, tf.constant(2)); // [R, L, 1]
    Operand<TInt32> branchK = tf.expandDims(branchIds, tf.constant(1)); // [R, 1, L]
    Operand<TBool> keyShared = tf.math.equal(branchK, tf.constant(0)); // [R, 1, L]
    Operand<TBool> sameBranch = tf.math.equal(branchQ, branchK); // [R, L, L]
    Operand<TBool> branchVisible = tf.math.logicalOr(keyShared, sameBranch); // [R, L, L]

    Operand<TInt32> length = tf.gather(tf.shape(segmentIds), tf.constant(1), tf.constant(0)); // []
    Operand<TInt32> index = tf.range(tf.constant(0), length, tf.constant(1)); // [L]
    Operand<TInt32> queryIndex = tf.expandDims(index, tf.constant(1)); // [L, 1]
    Operand<TInt32> keyIndex = tf.expandDims(index, tf.constant(0)); // [1, L]
    Operand<TBool> causal = tf.math.lessEqual(keyIndex, queryIndex); // [L, L]

    Operand<TBool> visible = tf.math.logicalAnd(sameSegment, keyIsReal); // [R, L, L]
    visible = tf.math.logicalAnd(visible, branchVisible); // [R, L, L]
    visible = tf.math.logicalAnd(visible, causal); // [R, L, L]
    return tf.expandDims(visible, tf.constant(1)); // [R, 1, L, L]
  }

  /**
   * The mask as an additive score bias, built once per forward pass and shared by every layer: adding
   * it costs one broadcast add per layer, and unlike a select its gradient is the incoming gradient
   * itself (no zeros tensor, no second select in the backward pass).
   *
   * @return {@code [R, 1, L, L]}, 0 where attention is allowed, {@link Attention#MASKED_SCORE} elsewhere
   */
  public static Operand<TFloat32> bias(Ops tf, Operand<TInt32> segmentIds, Operand<TInt32> branchIds) {
    Operand<TBool> visible = build(tf, segmentIds, branchIds); // [R, 1, L, L]
    return tf.select(visible, tf.constant(0f), tf.constant(Attention.MASKED_SCORE)); // [R, 1, L, L]
  }
}
