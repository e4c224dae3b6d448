package dev.tfdpo.ops;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
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

/**
 * {@link RmsNorm}: the lean norm and its projections give the gradients of the plain form, in a residual
 * block {@code x + rmsNorm(x) @ Wa^T + rmsNorm(x) @ Wb^T} (two projections of one norm, as q and k, or gate
 * and up), and the backward pass reads neither the norm's output nor {@code x * r} from the forward pass.
 */
class RmsNormTest {

  private static final int N = 29;
  private static final int H = 41;

  /** Value, then the gradients for x, the norm weight and both projection weights, products in {@code p}. */
  private static List<float[]> block(Precision p) {
    Random random = new Random(3);
    float[][] x = new float[N][H];
    float[][] c = new float[N][H];
    float[] weight = new float[H];
    float[][] wa = new float[H][H];
    float[][] wb = new float[H][H];
    for (int i = 0; i < N; i++) {
      for (int j = 0; j < H; j++) {
        x[i][j] = (float) (2 * random.nextGaussian());
        c[i][j] = (float) random.nextGaussian();
      }
    }
    for (int j = 0; j < H; j++) {
      weight[j] = (float) (1 + 0.1 * random.nextGaussian());
      for (int k = 0; k < H; k++) {
        wa[j][k] = (float) (random.nextGaussian() / Math.sqrt(H));
        wb[j][k] = (float) (random.nextGaussian() / Math.sqrt(H));
      }
    }
    try (Graph graph = new Graph(); Session s = new Session(graph)) {
      Ops tf = Ops.create(graph);
      Operand<TFloat32> xT = tf.identity(tf.constant(x)); // [N, H]
      Operand<TFloat32> weightT = tf.identity(tf.constant(weight)); // [H]
      Operand<TFloat32> waT = tf.identity(tf.constant(wa)); // [H, H]
      Operand<TFloat32> wbT = tf.identity(tf.constant(wb)); // [H, H]
      Operand<TFloat32> normed = Layers.rmsNorm(tf, xT, weightT, 1e-5f); // [N, H]
      Operand<TFloat32> y = tf.math.add(xT,
          tf.math.add(Layers.linear(tf, normed, waT, null, p), Layers.linear(tf, normed, wbT, null, p))); // [N, H]
      Operand<TFloat32> loss = tf.sum(tf.math.mul(y, tf.constant(c)), tf.constant(new int[] {0, 1})); // []
      Gradients grads = tf.gradients(loss, List.of(xT, weightT, waT, wbT));
      var runner = s.runner().fetch(y);
      for (int i = 0; i < 4; i++) {
        runner.fetch(grads.dy(i));
      }
      return Fetched.floats(runner);
    }
  }

  /**
   * Values and the weights' gradients bitwise; x's gradient within a rounding of its sum. x collects
   * three gradients (the residual's, the norm's direct path, the path through the inverse RMS), bitwise
   * equal in both forms and reaching x's {@code AddN} in the same order; but that kernel accumulates into
   * an input buffer it can take over (moving that input to the front of the sum), which depends on which
   * buffers are still shared when it runs. Two orders of a float32 sum of three terms differ by at most 2
   * ulps of the largest partial sum: below 1e-6 of the largest gradient entry.
   */
  @Test
  void gradientsEqualThePlainForm() {
    assertTrue(LeanGradients.active(), "the IdentityN gradient registers on this OS");
    assertLeanEqualsPlain(Precision.FLOAT32);
  }

  /**
   * The bfloat16 projections ({@link Bf16Projection}: the rebuilt output cast again, the weights too): the
   * same, against the plain bfloat16 form (each product casting the norm's output and its weight).
   */
  @Test
  void bfloat16GradientsEqualThePlainForm() {
    assertLeanEqualsPlain(Precision.BFLOAT16);
  }

  private static void assertLeanEqualsPlain(Precision p) {
    List<float[]> lean = block(p);
    List<float[]> plain = LeanGradients.plain(() -> block(p));
    String[] what = {"x + rmsNorm(x) (Wa + Wb)^T", "d x", "d norm weight", "d Wa", "d Wb"};
    for (int i = 0; i < what.length; i++) {
      float tolerance = 0f;
      if (i == 1) {
        for (float v : plain.get(i)) {
          tolerance = Math.max(tolerance, 1e-6f * Math.abs(v));
        }
      }
      assertArrayEquals(plain.get(i), lean.get(i), tolerance, p + " " + what[i]);
    }
  }

  /**
   * No gradient operation reads the forward's norm output or {@code x * r}: they are rebuilt once per norm,
   * from {@code x} read through an IdentityN that waits for an incoming gradient.
   */
  @Test
  void theBackwardPassRebuildsTheNormOnce() {
    try (Graph graph = new Graph()) {
      Ops tf = Ops.create(graph);
      Operand<TFloat32> x = tf.placeholder(TFloat32.class); // [N, H]
      Operand<TFloat32> weight = tf.placeholder(TFloat32.class); // [H]
      Operand<TFloat32> wa = tf.placeholder(TFloat32.class); // [H, H]
      Operand<TFloat32> wb = tf.placeholder(TFloat32.class); // [H, H]
      Operand<TFloat32> normed = Layers.rmsNorm(tf, x, weight, 1e-5f); // [N, H]
      Operand<TFloat32> y = tf.math.add(Layers.linear(tf, normed, wa, null), Layers.linear(tf, normed, wb, null));
      tf.gradients(tf.sum(y, tf.constant(new int[] {0, 1})), List.of(x, weight, wa, wb));
      GraphOperation norm = (GraphOperation) normed.op();
      GraphOperation scaledOp = (GraphOperation) ((GraphOperation) norm.input(0).op()).input(0).op(); // w * (x * r)
      String scaled = scaledOp.name();
      String xr = scaledOp.input(1).op().name(); // x * r
      int rebuilds = 0;
      for (Iterator<GraphOperation> it = graph.operations(); it.hasNext(); ) {
        GraphOperation op = it.next();
        if (!op.name().startsWith("Gradients")) {
          continue;
        }
        for (int i = 0; i < op.numInputs(); i++) {
          String read = op.input(i).op().name();
          boolean output = read.equals(normed.op().name()) && op.input(i).index() == 0;
          assertTrue(!read.equals(scaled) && !read.equals(xr) && !output, op.name() + " reads the forward's " + read);
        }
        if (op.type().equals("IdentityN") && op.input(0).op().name().equals(x.op().name())) {
          rebuilds++;
          assertTrue(op.input(1).op().name().startsWith("Gradients"), op.name() + " waits for " + op.input(1).op());
        }
      }
      // Once for Square's 2 * x, once for x * r, which both projections and the weight's gradient share.
      assertEquals(2, rebuilds, "late reads of x");
    }
  }
}
