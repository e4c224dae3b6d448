package dev.tfdpo.ops;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.Random;
import org.junit.jupiter.api.Test;
import org.tensorflow.Graph;
import org.tensorflow.Operand;
import org.tensorflow.Session;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.ndarray.buffer.DataBuffers;
import org.tensorflow.op.Ops;
import org.tensorflow.types.TFloat32;

/** The adapted projection {@code y = x W^T + s (x A^T) B^T} against a plain Java computation. */
class LowRankTest {

  @Test
  void adaptedProjectionMatchesJava() {
    int n = 3, in = 5, out = 4, r = 2;
    float s = 1.5f;
    Random random = new Random(3);
    float[] x = gaussian(random, n * in);
    float[] w = gaussian(random, out * in);
    float[] a = gaussian(random, r * in);
    float[] b = gaussian(random, out * r);
    float[] got;
    try (Graph g = new Graph(); Session session = new Session(g)) {
      Ops tf = Ops.create(g);
      Operand<TFloat32> xs = tf.constant(Shape.of(n, in), DataBuffers.of(x)); // [N, in]
      Operand<TFloat32> ws = tf.constant(Shape.of(out, in), DataBuffers.of(w)); // [out, in]
      LowRank adapter = new LowRank(
          tf.constant(Shape.of(r, in), DataBuffers.of(a)), tf.constant(Shape.of(out, r), DataBuffers.of(b)), s);
      Operand<TFloat32> y = LowRank.add(tf, Layers.linear(tf, xs, ws, null), xs, adapter); // [N, out]
      try (TFloat32 t = (TFloat32) session.runner().fetch(y).run().get(0)) {
        got = new float[n * out];
        t.asRawTensor().data().asFloats().read(got);
      }
    }
    for (int i = 0; i < n; i++) {
      for (int o = 0; o < out; o++) {
        double base = 0;
        for (int k = 0; k < in; k++) {
          base += (double) x[i * in + k] * w[o * in + k];
        }
        double delta = 0;
        for (int j = 0; j < r; j++) {
          double down = 0;
          for (int k = 0; k < in; k++) {
            down += (double) x[i * in + k] * a[j * in + k];
          }
          delta += down * b[o * r + j];
        }
        double expected = base + s * delta;
        // Sums of <= 5 products of N(0,1) values in float32: a few ulps of ~5, far below 1e-5.
        assertEquals(expected, got[i * out + o], 1e-5, "y[" + i + "," + o + "]");
      }
    }
  }

  private static float[] gaussian(Random random, int n) {
    float[] v = new float[n];
    for (int i = 0; i < n; i++) {
      v[i] = (float) random.nextGaussian();
    }
    return v;
  }
}
