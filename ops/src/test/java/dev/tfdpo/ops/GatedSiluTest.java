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
import org.tensorflow.Output;
import org.tensorflow.Session;
import org.tensorflow.ndarray.StdArrays;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Gradients;
import org.tensorflow.types.TFloat32;

/**
 * {@link GatedSilu}: the same values and gradients as {@code silu(g) * u} written out, to the bit, with the
 * recomputation of {@code silu(g)} placed in the backward pass.
 */
class GatedSiluTest {

  private static final int N = 37;
  private static final int F = 53;

  /** Forward value, gradients for gate and up: lean and plain forms, from the same random inputs. */
  private static List<float[]> run(boolean lean) {
    Random random = new Random(7);
    float[][] g = new float[N][F];
    float[][] u = new float[N][F];
    float[][] c = new float[N][F];
    for (int i = 0; i < N; i++) {
      for (int j = 0; j < F; j++) {
        g[i][j] = (float) (4 * random.nextGaussian()); // saturated and linear parts of the sigmoid
        u[i][j] = (float) random.nextGaussian();
        c[i][j] = (float) random.nextGaussian();
      }
    }
    try (Graph graph = new Graph(); Session s = new Session(graph)) {
      Ops tf = Ops.create(graph);
      Operand<TFloat32> gate = tf.identity(tf.constant(g)); // [N, F]
      Operand<TFloat32> up = tf.identity(tf.constant(u)); // [N, F]
      Operand<TFloat32> h = lean ? GatedSilu.apply(tf, gate, up) : tf.math.mul(Layers.silu(tf, gate), up); // [N, F]
      Operand<TFloat32> loss = tf.sum(tf.math.mul(h, tf.constant(c)), tf.constant(new int[] {0, 1})); // []
      Gradients grads = tf.gradients(loss, List.of(gate, up));
      return Fetched.floats(s.runner().fetch(h).fetch(grads.dy(0)).fetch(grads.dy(1)));
    }
  }

  @Test
  void valuesAndGradientsEqualThePlainFormBitwise() {
    assertTrue(GatedSilu.active(), "the IdentityN gradient registers on this OS");
    List<float[]> lean = run(true);
    List<float[]> plain = run(false);
    String[] what = {"silu(g) * u", "d gate", "d up"};
    for (int i = 0; i < 3; i++) {
      assertArrayEquals(plain.get(i), lean.get(i), 0f, what[i]);
    }
  }

  /**
   * The product and the down projection fused ({@link GatedSilu#project}): value and the gradients of gate,
   * up and the weight bitwise those of the product then a plain MatMul, from the same random inputs.
   */
  @Test
  void projectionEqualsTheProductThenMatMulBitwise() {
    assertProjectionBitwise(Precision.FLOAT32);
  }

  /** The same in bfloat16 ({@link Bf16Projection}: the product rebuilt and cast again, the weight too). */
  @Test
  void bfloat16ProjectionEqualsTheProductThenMatMulBitwise() {
    assertProjectionBitwise(Precision.BFLOAT16);
  }

  private static void assertProjectionBitwise(Precision p) {
    List<float[]> lean = project(false, p);
    List<float[]> plain = LeanGradients.plain(() -> project(true, p));
    String[] what = {"(silu(g) * u) @ W^T", "d gate", "d up", "d W"};
    for (int i = 0; i < what.length; i++) {
      assertArrayEquals(plain.get(i), lean.get(i), 0f, p + " " + what[i]);
    }
  }

  private static List<float[]> project(boolean plain, Precision p) {
    Random random = new Random(9);
    int h = 23;
    float[][] g = new float[N][F];
    float[][] u = new float[N][F];
    float[][] w = new float[h][F];
    float[][] c = new float[N][h];
    for (int i = 0; i < N; i++) {
      for (int j = 0; j < F; j++) {
        g[i][j] = (float) (4 * random.nextGaussian());
        u[i][j] = (float) random.nextGaussian();
      }
      for (int j = 0; j < h; j++) {
        c[i][j] = (float) random.nextGaussian();
      }
    }
    for (int i = 0; i < h; i++) {
      for (int j = 0; j < F; j++) {
        w[i][j] = (float) (random.nextGaussian() / Math.sqrt(F));
      }
    }
    try (Graph graph = new Graph(); Session s = new Session(graph)) {
      Ops tf = Ops.create(graph);
      Operand<TFloat32> gate = tf.identity(tf.constant(g)); // [N, F]
      Operand<TFloat32> up = tf.identity(tf.constant(u)); // [N, F]
      Operand<TFloat32> down = tf.identity(tf.constant(w)); // [h, F]
      Operand<TFloat32> y = plain
          ? p.matMul(tf, tf.math.mul(Layers.silu(tf, gate), up), down, true)
          : GatedSilu.project(tf, gate, up, down, p); // [N, h]
      Operand<TFloat32> loss = tf.sum(tf.math.mul(y, tf.constant(c)), tf.constant(new int[] {0, 1})); // []
      Gradients grads = tf.gradients(loss, List.of(gate, up, down));
      return Fetched.floats(s.runner().fetch(y).fetch(grads.dy(0)).fetch(grads.dy(1)).fetch(grads.dy(2)));
    }
  }

  /**
   * The recomputed {@code sigmoid(g)} reads {@code g} through an IdentityN that also takes the gradient
   * arriving at the activation: it cannot run before the backward pass reaches the layer, so the forward
   * pass frees its own {@code sigmoid(g)} and {@code silu(g)}. Run early (as a control dependency would
   * have let it: the gradient function's scope drops those), it measured 63 MB per 135M-shape layer kept,
   * instead of 51.
   */
  @Test
  void theRecomputationWaitsForTheIncomingGradient() {
    try (Graph graph = new Graph()) {
      Ops tf = Ops.create(graph);
      Operand<TFloat32> gate = tf.placeholder(TFloat32.class); // [N, F]
      Operand<TFloat32> up = tf.placeholder(TFloat32.class); // [N, F]
      Operand<TFloat32> h = GatedSilu.apply(tf, gate, up); // [N, F]
      Operand<TFloat32> loss = tf.sum(tf.math.mul(h, h), tf.constant(new int[] {0, 1})); // []
      tf.gradients(loss, List.of(gate, up));
      int recomputed = 0;
      for (Iterator<GraphOperation> it = graph.operations(); it.hasNext(); ) {
        GraphOperation op = it.next();
        if (!op.type().equals("Sigmoid") || !op.name().startsWith("Gradients")) {
          continue;
        }
        recomputed++;
        GraphOperation gated = (GraphOperation) op.input(0).op();
        assertEquals("IdentityN", gated.type(), op.name() + " reads g directly");
        Output<?> waitsFor = gated.input(1);
        assertTrue(waitsFor.op().name().startsWith("Gradients"), op.name() + " waits for " + waitsFor.op().name());
      }
      assertEquals(1, recomputed, "one sigmoid(g) rebuilt in the backward pass");
    }
  }

  /** Any other IdentityN differentiates as an identity of each input. */
  @Test
  void anotherIdentityNPassesEachGradientThrough() {
    try (Graph graph = new Graph(); Session s = new Session(graph)) {
      Ops tf = Ops.create(graph);
      Operand<TFloat32> a = tf.identity(tf.constant(new float[] {1f, 2f}));
      Operand<TFloat32> b = tf.identity(tf.constant(new float[] {3f}));
      List<Output<?>> y = tf.identityN(List.of(a, b)).output();
      @SuppressWarnings("unchecked")
      Operand<TFloat32> y0 = (Operand<TFloat32>) y.get(0);
      @SuppressWarnings("unchecked")
      Operand<TFloat32> y1 = (Operand<TFloat32>) y.get(1);
      Operand<TFloat32> loss = tf.math.add(tf.sum(tf.math.mul(y0, tf.constant(2f)), tf.constant(0)),
          tf.sum(tf.math.mul(y1, tf.constant(3f)), tf.constant(0)));
      Gradients grads = tf.gradients(loss, List.of(a, b));
      try (var r = s.runner().fetch(grads.dy(0)).fetch(grads.dy(1)).run()) {
        assertArrayEquals(new float[] {2f, 2f}, StdArrays.array1dCopyOf((TFloat32) r.get(0)), 0f);
        assertArrayEquals(new float[] {3f}, StdArrays.array1dCopyOf((TFloat32) r.get(1)), 0f);
      }
    }
  }
}
