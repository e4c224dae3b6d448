package dev.tfdpo.ops;

import org.tensorflow.Operand;
import org.tensorflow.op.Ops;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt32;

/**
 * Ascending sort of a short vector, differentiable, from ops that have C++ gradients ({@code TopKV2}
 * has none). The rank of each element is counted from pairwise comparisons (ties broken by index, like
 * a stable sort), the ranks become a permutation matrix (no gradient), and the sorted vector is that
 * matrix applied to the input, so the gradient is the inverse permutation, as {@code torch.sort}'s.
 * Costs {@code O(P^2)}: meant for the pairs of one micro-batch.
 */
public final class BatchSort {

  private BatchSort() {}

  /** {@code x} sorted ascending, {@code [P]}. */
  public static Operand<TFloat32> ascending(Ops tf, Operand<TFloat32> x) {
    Operand<TFloat32> column = tf.expandDims(x, tf.constant(1)); // [P, 1] = x_i
    Operand<TFloat32> row = tf.expandDims(x, tf.constant(0)); // [1, P] = x_j
    Operand<TInt32> size = tf.shape(x, TInt32.class); // [1]
    Operand<TInt32> count = tf.reshape(size, tf.constant(new int[0])); // [] = P
    Operand<TInt32> index = tf.range(tf.constant(0), count, tf.constant(1)); // [P]
    Operand<TFloat32> smaller = tf.dtypes.cast(tf.math.less(row, column), TFloat32.class); // [P, P]: x_j < x_i
    Operand<TFloat32> tiedBefore =
        tf.dtypes.cast(
            tf.math.logicalAnd(
                tf.math.equal(row, column),
                tf.math.less(tf.expandDims(index, tf.constant(0)), tf.expandDims(index, tf.constant(1)))),
            TFloat32.class); // [P, P]: x_j == x_i and j < i
    Operand<TInt32> rank =
        tf.dtypes.cast(tf.reduceSum(tf.math.add(smaller, tiedBefore), tf.constant(1)), TInt32.class); // [P]
    Operand<TFloat32> permutation =
        tf.stopGradient(
            tf.oneHot(rank, count, tf.constant(1f), tf.constant(0f))); // [P, P]: [i, rank_i]
    Operand<TFloat32> sorted =
        tf.linalg.matMul(tf.expandDims(x, tf.constant(0)), permutation); // [1, P]
    return tf.reshape(sorted, tf.constant(new int[] {-1}));
  }
}
