package dev.tfdpo.ops;

import java.util.ArrayList;
import java.util.List;
import org.tensorflow.Operand;
import org.tensorflow.op.Ops;
import org.tensorflow.types.TInt32;
import org.tensorflow.types.family.TNumber;
import org.tensorflow.types.family.TType;

/** Shape tensors that mix dynamic leading dimensions with static trailing ones. */
public final class Shapes {

  private Shapes() {}

  /** {@code concat(leading, trailing)} as a 1-D int32 shape tensor. */
  public static Operand<TInt32> concat(Ops tf, Operand<TInt32> leading, int... trailing) {
    List<Operand<TInt32>> parts = new ArrayList<>();
    parts.add(leading);
    parts.add(tf.constant(trailing));
    return tf.concat(parts, tf.constant(0));
  }

  /** The 1-D int32 vectors {@code parts} joined end to end (begin and size vectors of slices). */
  @SafeVarargs
  public static Operand<TInt32> join(Ops tf, Operand<TInt32>... parts) {
    return tf.concat(List.of(parts), tf.constant(0));
  }

  /** The first {@code n} entries of {@code tf.shape(x)}. */
  public static Operand<TInt32> leading(Ops tf, Operand<?> x, int n) {
    Operand<TInt32> shape = tf.shape(x);
    return tf.slice(shape, tf.constant(new int[] {0}), tf.constant(new int[] {n}));
  }

  /**
   * Zeros of shape {@code dims}. Use this, not {@code tf.zeros}: TensorFlow Java's {@code Zeros} (and
   * {@code Ones}) open a sub-scope, which walks every operation of the graph (see the graphs module's
   * {@code GraphScopes}); called per variable it made graph building quadratic in depth.
   *
   * @param dims 1-D shape
   */
  public static <T extends TType> Operand<T> zeros(Ops tf, Operand<? extends TNumber> dims, Class<T> type) {
    return tf.fill(dims, tf.dtypes.cast(tf.constant(0), type)); // dims
  }
}
