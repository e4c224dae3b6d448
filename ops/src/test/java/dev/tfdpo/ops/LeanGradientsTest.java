package dev.tfdpo.ops;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
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

/**
 * {@link LeanGradients}: an RMSNorm whose {@code Square} gradient computes {@code 2 * x} in the backward
 * pass gives the gradients of the plain form, in a residual block where {@code x} collects three gradients
 * (the norm's two paths and the residual's).
 */
class LeanGradientsTest {

  private static final int N = 29;
  private static final int H = 41;

  /** {@code x + W rmsNorm(x)} and the gradients of a weighted sum of it for x and the norm's weight. */
  private static List<float[]> residualNorm() {
    Random random = new Random(3);
    float[][] x = new float[N][H];
    float[][] c = new float[N][H];
    float[] weight = new float[H];
    float[][] w = new float[H][H];
    for (int i = 0; i < N; i++) {
      for (int j = 0; j < H; j++) {
        x[i][j] = (float) (2 * random.nextGaussian());
        c[i][j] = (float) random.nextGaussian();
      }
    }
    for (int j = 0; j < H; j++) {
      weight[j] = (float) (1 + 0.1 * random.nextGaussian());
      for (int k = 0; k < H; k++) {
        w[j][k] = (float) (random.nextGaussian() / Math.sqrt(H));
      }
    }
    try (Graph graph = new Graph(); Session s = new Session(graph)) {
      Ops tf = Ops.create(graph);
      Operand<TFloat32> xT = tf.identity(tf.constant(x)); // [N, H]
      Operand<TFloat32> weightT = tf.identity(tf.constant(weight)); // [H]
      Operand<TFloat32> normed = Layers.rmsNorm(tf, xT, weightT, 1e-5f); // [N, H]
      Operand<TFloat32> y = tf.math.add(xT, Layers.linear(tf, normed, tf.constant(w), null)); // [N, H]
      Operand<TFloat32> loss = tf.sum(tf.math.mul(y, tf.constant(c)), tf.constant(new int[] {0, 1})); // []
      Gradients grads = tf.gradients(loss, List.of(xT, weightT));
      List<float[]> out = new ArrayList<>();
      try (var r = s.runner().fetch(y).fetch(grads.dy(0)).fetch(grads.dy(1)).run()) {
        for (int i = 0; i < 3; i++) {
          float[] values = new float[(int) r.get(i).shape().size()];
          r.get(i).asRawTensor().data().asFloats().read(values);
          out.add(values);
        }
      }
      return out;
    }
  }

  /**
   * Values and the weight's gradient bitwise; x's gradient within a rounding of its three-term sum. The
   * three terms are bitwise equal in both forms and reach x's {@code AddN} in the same order, but that
   * kernel accumulates into an input buffer it can take over (moving that input to the front of the sum),
   * which depends on which buffers are still shared when it runs: measured 1 ulp apart here. Two orders of a
   * float32 sum of three terms differ by at most 2 ulps of the largest partial sum, below 1e-6 of the
   * largest gradient entry.
   */
  @Test
  void rmsNormGradientsEqualThePlainForm() {
    assertTrue(LeanGradients.active(), "the IdentityN gradient registers on this OS");
    List<float[]> lean = residualNorm();
    List<float[]> plain = LeanGradients.plain(LeanGradientsTest::residualNorm);
    assertArrayEquals(plain.get(0), lean.get(0), 0f, "x + W rmsNorm(x)");
    assertArrayEquals(plain.get(2), lean.get(2), 0f, "d norm weight");
    float scale = 0f;
    for (float v : plain.get(1)) {
      scale = Math.max(scale, Math.abs(v));
    }
    assertArrayEquals(plain.get(1), lean.get(1), 1e-6f * scale, "d x");
  }

  /** The gradient's {@code 2 * x} reads x through an IdentityN that also takes the incoming gradient. */
  @Test
  void twiceXWaitsForTheIncomingGradient() {
    try (Graph graph = new Graph()) {
      Ops tf = Ops.create(graph);
      Operand<TFloat32> x = tf.placeholder(TFloat32.class); // [N, H]
      Operand<TFloat32> loss = tf.sum(LeanGradients.square(tf, x), tf.constant(new int[] {0, 1})); // []
      tf.gradients(loss, List.of(x));
      int doubled = 0;
      for (Iterator<GraphOperation> it = graph.operations(); it.hasNext(); ) {
        GraphOperation op = it.next();
        if (!op.type().equals("Mul") || !op.name().startsWith("Gradients") || op.numInputs() != 2
            || !op.input(0).op().type().equals("Const")) {
          continue;
        }
        doubled++;
        GraphOperation late = (GraphOperation) op.input(1).op();
        assertEquals("IdentityN", late.type(), op.name() + " reads x directly");
        assertTrue(late.input(1).op().name().startsWith("Gradients"), op.name() + " waits for " + late.input(1).op());
      }
      assertEquals(1, doubled, "one 2 * x in the backward pass");
    }
  }

  @Test
  void marksDropTensorFlowsUniquifyingSuffix() {
    assertEquals("lean_square", LeanGradients.markOf("forward/layer_3/lean_square_12"));
    assertEquals("gated_silu_down", LeanGradients.markOf("gated_silu_down"));
    assertEquals("gated_silu", LeanGradients.markOf("a/gated_silu_2"));
  }
}
