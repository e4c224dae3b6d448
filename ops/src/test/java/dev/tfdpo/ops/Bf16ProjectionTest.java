package dev.tfdpo.ops;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Iterator;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.tensorflow.Graph;
import org.tensorflow.GraphOperation;
import org.tensorflow.Operand;
import org.tensorflow.Session;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Gradients;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.family.TType;

/**
 * {@link Bf16Projection} through {@link Layers#linear}: value and gradients bitwise those of the plain
 * bfloat16 product, and the weight's bfloat16 copy is not read by the backward pass (cast again there).
 */
class Bf16ProjectionTest {

  private static final int N = 23;
  private static final int IN = 37;
  private static final int OUT = 19;

  /** Value, then the gradients of x and the weight, of {@code sum(linear(x, W) * c)}. */
  private static List<float[]> run() {
    Random random = new Random(5);
    float[][] x = new float[N][IN];
    float[][] w = new float[OUT][IN];
    float[][] c = new float[N][OUT];
    for (float[][] a : List.of(x, w, c)) {
      for (float[] row : a) {
        for (int j = 0; j < row.length; j++) {
          row[j] = (float) random.nextGaussian();
        }
      }
    }
    try (Graph graph = new Graph(); Session s = new Session(graph)) {
      Ops tf = Ops.create(graph);
      Operand<TFloat32> xT = tf.identity(tf.constant(x)); // [N, IN]
      Operand<TFloat32> wT = tf.identity(tf.constant(w)); // [OUT, IN]
      Operand<TFloat32> y = Layers.linear(tf, xT, wT, null, Precision.BFLOAT16); // [N, OUT]
      Operand<TFloat32> loss = tf.sum(tf.math.mul(y, tf.constant(c)), tf.constant(new int[] {0, 1})); // []
      Gradients grads = tf.gradients(loss, List.of(xT, wT));
      return Fetched.floats(s.runner().fetch(y).fetch(grads.dy(0)).fetch(grads.dy(1)));
    }
  }

  @Test
  void valueAndGradientsEqualThePlainBfloat16ProductBitwise() {
    assertTrue(LeanGradients.active(), "the IdentityN gradient registers on this OS");
    List<float[]> lean = run();
    List<float[]> plain = LeanGradients.plain(Bf16ProjectionTest::run);
    String[] what = {"x @ W^T", "d x", "d W"};
    for (int i = 0; i < what.length; i++) {
      assertArrayEquals(plain.get(i), lean.get(i), 0f, what[i]);
    }
  }

  /**
   * The backward pass's products read a bfloat16 weight cast in the backward pass, from the float32 weight
   * read through an IdentityN that takes the incoming gradient (so the cast cannot run early and be kept).
   */
  @Test
  void theWeightIsCastAgainInTheBackwardPass() {
    try (Graph graph = new Graph()) {
      Ops tf = Ops.create(graph);
      Operand<TFloat32> x = tf.placeholder(TFloat32.class); // [N, IN]
      Operand<TFloat32> w = tf.placeholder(TFloat32.class); // [OUT, IN]
      Operand<TFloat32> y = Layers.linear(tf, x, w, null, Precision.BFLOAT16); // [N, OUT]
      tf.gradients(tf.sum(y, tf.constant(new int[] {0, 1})), List.of(x, w));
      int recast = 0;
      for (Iterator<GraphOperation> it = graph.operations(); it.hasNext(); ) {
        GraphOperation op = it.next();
        boolean backward = op.name().startsWith("Gradients");
        if (backward && op.type().equals("MatMul")) {
          for (int i = 0; i < 2; i++) {
            GraphOperation from = (GraphOperation) op.input(i).op();
            assertFalse(from.type().equals("Cast") && !from.name().startsWith("Gradients")
                && readsWeight(from, w), op.name() + " reads the forward pass's weight cast " + from.name());
          }
        }
        if (backward && op.type().equals("Cast") && readsWeight(op, w)) {
          GraphOperation late = (GraphOperation) op.input(0).op();
          assertEquals("IdentityN", late.type(), op.name() + " casts the weight directly");
          assertTrue(late.input(1).op().name().startsWith("Gradients"), op.name() + " waits for " + late.input(1).op());
          recast++;
        }
      }
      assertEquals(1, recast, "one cast of the weight in the backward pass");
    }
  }

  /** Whether {@code cast}'s input is {@code w}, directly or through an IdentityN. */
  private static <T extends TType> boolean readsWeight(GraphOperation cast, Operand<T> w) {
    GraphOperation in = (GraphOperation) cast.input(0).op();
    return in.equals(w.op()) || (in.type().equals("IdentityN") && in.input(0).op().equals(w.op()));
  }
}
