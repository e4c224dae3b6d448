package dev.tfdpo.ops;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.function.BiFunction;
import org.junit.jupiter.api.Test;
import org.tensorflow.Graph;
import org.tensorflow.Operand;
import org.tensorflow.Session;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Gradients;
import org.tensorflow.op.core.Placeholder;
import org.tensorflow.types.TFloat32;

/** The stable functions at extreme inputs: finite values, finite (and right) gradients. */
class StableTest {

  /** Value and d(sum f(x))/dx of {@code f} at each of {@code xs}. */
  static float[][] valueAndGradient(BiFunction<Ops, Operand<TFloat32>, Operand<TFloat32>> f, float[] xs) {
    try (Graph g = new Graph()) {
      Ops tf = Ops.create(g);
      Placeholder<TFloat32> x = tf.placeholder(TFloat32.class);
      Operand<TFloat32> y = f.apply(tf, x);
      Gradients grad = tf.gradients(tf.reduceSum(y, tf.constant(0)), List.of(x));
      try (Session s = new Session(g);
          TFloat32 in = TFloat32.vectorOf(xs);
          var out = s.runner().feed(x, in).fetch(y).fetch(grad.dy(0)).run()) {
        float[][] r = new float[2][xs.length];
        for (int i = 0; i < xs.length; i++) {
          r[0][i] = ((TFloat32) out.get(0)).getFloat(i);
          r[1][i] = ((TFloat32) out.get(1)).getFloat(i);
        }
        return r;
      }
    }
  }

  @Test
  void logSigmoidIsFiniteEverywhere() {
    float[] xs = {-1e30f, -1e4f, -100f, -20f, 0f, 20f, 100f, 1e4f, 1e30f};
    float[][] r = valueAndGradient(Stable::logSigmoid, xs);
    for (int i = 0; i < xs.length; i++) {
      double z = xs[i];
      // log(sigmoid(z)) = -log(1 + exp(-z)); derivative sigmoid(-z).
      double want = z >= 0 ? -Math.log1p(Math.exp(-z)) : z - Math.log1p(Math.exp(z));
      assertTrue(Float.isFinite(r[0][i]) && Float.isFinite(r[1][i]), "finite at " + z);
      assertEquals(want, r[0][i], 1e-6 * Math.max(1, Math.abs(want)), "value at " + z);
      assertEquals(1 / (1 + Math.exp(z)), r[1][i], 1e-6, "gradient at " + z);
    }
    // The naive form underflows: log(sigmoid(-100)) = log(0) in float32 would be -inf; here -100.
    assertEquals(-100f, r[0][2], 1e-4f);
  }

  @Test
  void log1mExpIsFiniteOnBothBranchesAndAtTheEdges() {
    float ln2 = (float) Math.log(2);
    float[] xs = {-1e30f, -1e4f, -88f, -20f, -1f, -ln2 - 1e-6f, -ln2, -ln2 + 1e-6f, -0.1f, -1e-3f, -1e-10f, -1e-30f};
    float[][] r = valueAndGradient(Stable::log1mExp, xs);
    for (int i = 0; i < xs.length; i++) {
      double x = xs[i];
      double want = x < -Math.log(2) ? Math.log1p(-Math.exp(x)) : Math.log(-Math.expm1(x));
      double slope = -Math.exp(x) / -Math.expm1(x); // d/dx log(1 - e^x) = -e^x / (1 - e^x)
      assertTrue(Float.isFinite(r[0][i]) && Float.isFinite(r[1][i]), "finite at " + x);
      assertEquals(want, r[0][i], 2e-6 * Math.max(1, Math.abs(want)), "value at " + x);
      assertEquals(slope, r[1][i], 2e-6 * Math.max(1, Math.abs(slope)), "gradient at " + x);
    }
    // Outside the domain (x >= 0) the input is clamped: finite, never NaN.
    float[][] edge = valueAndGradient(Stable::log1mExp, new float[] {0f, 3f});
    for (float[] row : edge) {
      for (float v : row) {
        assertTrue(Float.isFinite(v), "finite at the clamp: " + v);
      }
    }
  }

  @Test
  void batchSortSortsAndRoutesGradients() {
    float[] xs = {3f, -1f, 2f, -1f, 0.5f};
    // d/dx of sum_k (k+1) * sorted_k: sorted = [-1(idx1), -1(idx3), 0.5, 2, 3] -> weights by original index.
    float[] sorted;
    float[] grad;
    try (Graph g = new Graph()) {
      Ops tf = Ops.create(g);
      Placeholder<TFloat32> x = tf.placeholder(TFloat32.class);
      Operand<TFloat32> y = BatchSort.ascending(tf, x);
      Operand<TFloat32> weighted = tf.reduceSum(tf.math.mul(y, tf.constant(new float[] {1, 2, 3, 4, 5})), tf.constant(0));
      Gradients gr = tf.gradients(weighted, List.of(x));
      try (Session s = new Session(g);
          TFloat32 in = TFloat32.vectorOf(xs);
          var out = s.runner().feed(x, in).fetch(y).fetch(gr.dy(0)).run()) {
        sorted = new float[xs.length];
        grad = new float[xs.length];
        for (int i = 0; i < xs.length; i++) {
          sorted[i] = ((TFloat32) out.get(0)).getFloat(i);
          grad[i] = ((TFloat32) out.get(1)).getFloat(i);
        }
      }
    }
    assertArrayEquals(new float[] {-1f, -1f, 0.5f, 2f, 3f}, sorted);
    assertArrayEquals(new float[] {5f, 1f, 4f, 2f, 3f}, grad);
  }
}
