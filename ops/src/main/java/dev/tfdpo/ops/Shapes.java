package dev.tfdpo.ops;

import java.util.ArrayList;
import java.util.List;
import org.tensorflow.Operand;
import org.tensorflow.op.Ops;
import org.tensorflow.types.TInt32;

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
}
