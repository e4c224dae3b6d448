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
import org.tensorflow.ndarray.FloatNdArray;
import org.tensorflow.ndarray.NdArrays;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Gradients;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt32;

/**
 * {@link AttentionBlock} inside {@link Attention#core}: contexts and the gradients of q, k and v bitwise
 * those of the plain form (softmax kept from the forward pass), in float32 and bfloat16, with padding rows
 * and a packed row in the batch; and no gradient operation reads the forward pass's probabilities.
 */
class AttentionBlockTest {

  private static final int ROWS = 3;
  private static final int LENGTH = 11; // not a multiple of Attention.CAUSAL_BLOCKS: uneven blocks
  private static final Attention.Heads HEADS = new Attention.Heads(6, 2, 4); // 3 query heads per key/value head

  /** Segment ids per row: one full sequence, one right-padded, one packed row of two sequences. */
  private static final int[][] SEGMENTS = {
    {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1},
    {1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0},
    {1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 0},
  };

  @Test
  void float32ContextsAndGradientsEqualThePlainFormBitwise() {
    assertTrue(LeanGradients.active(), "the IdentityN gradient registers on this OS");
    assertBitwise(Precision.FLOAT32);
  }

  @Test
  void bfloat16ContextsAndGradientsEqualThePlainFormBitwise() {
    assertBitwise(Precision.BFLOAT16);
  }

  private static void assertBitwise(Precision precision) {
    List<float[]> lean = run(precision);
    List<float[]> plain = LeanGradients.plain(() -> run(precision));
    String[] what = {"contexts", "d q", "d k", "d v"};
    for (int i = 0; i < what.length; i++) {
      assertArrayEquals(plain.get(i), lean.get(i), 0f, precision + " " + what[i]);
    }
  }

  /** Contexts and the gradients of q, k and v of {@code sum(core(q, k, v) * c)}, from fixed random inputs. */
  private static List<float[]> run(Precision precision) {
    Random random = new Random(11);
    int kv = HEADS.keyValue();
    int groups = HEADS.query() / kv;
    int d = HEADS.dim();
    try (Graph graph = new Graph(); Session s = new Session(graph)) {
      Ops tf = Ops.create(graph);
      Operand<TFloat32> q = tf.identity(tf.constant(gaussian(random, ROWS, kv, groups, LENGTH, d))); // [R, Hkv, G, L, D]
      Operand<TFloat32> k = tf.identity(tf.constant(gaussian(random, ROWS, kv, LENGTH, d))); // [R, Hkv, L, D]
      Operand<TFloat32> v = tf.identity(tf.constant(gaussian(random, ROWS, kv, LENGTH, d))); // [R, Hkv, L, D]
      Operand<TInt32> segments = tf.constant(SEGMENTS); // [R, L]
      Operand<TFloat32> bias = AttentionMask.bias(tf, segments, tf.zerosLike(segments)); // [R, 1, L, L]
      Operand<TInt32> rowsAndLength = tf.constant(new int[] {ROWS, LENGTH}); // [2]
      Operand<TFloat32> merged = Attention.core(tf, new Attention.Projected(q, k, v), rowsAndLength, HEADS, bias,
          precision); // [N, Hq*D]
      float[][] weights = new float[ROWS * LENGTH][HEADS.query() * d];
      for (float[] row : weights) {
        for (int j = 0; j < row.length; j++) {
          row[j] = (float) random.nextGaussian();
        }
      }
      Operand<TFloat32> loss = tf.sum(tf.math.mul(merged, tf.constant(weights)), tf.constant(new int[] {0, 1})); // []
      Gradients grads = tf.gradients(loss, List.of(q, k, v));
      return Fetched.floats(s.runner().fetch(merged).fetch(grads.dy(0)).fetch(grads.dy(1)).fetch(grads.dy(2)));
    }
  }

  private static FloatNdArray gaussian(Random random, long... shape) {
    FloatNdArray a = NdArrays.ofFloats(Shape.of(shape));
    a.scalars().forEach(x -> x.setFloat((float) random.nextGaussian()));
    return a;
  }

  /**
   * The forward pass's softmax feeds only the context product: no gradient operation reads it, so it is
   * freed with the product. The backward pass's own softmax reads scores whose queries pass an IdentityN
   * that also takes the incoming gradient: it cannot run before the backward pass reaches the block.
   */
  @Test
  void theProbabilitiesAreRebuiltInTheBackwardPass() {
    try (Graph graph = new Graph()) {
      Ops tf = Ops.create(graph);
      Operand<TFloat32> q = tf.placeholder(TFloat32.class); // [R, Hkv, G, L, D]
      Operand<TFloat32> k = tf.placeholder(TFloat32.class); // [R, Hkv, L, D]
      Operand<TFloat32> v = tf.placeholder(TFloat32.class); // [R, Hkv, L, D]
      Operand<TInt32> segments = tf.constant(SEGMENTS); // [R, L]
      Operand<TFloat32> bias = AttentionMask.bias(tf, segments, tf.zerosLike(segments)); // [R, 1, L, L]
      Operand<TFloat32> merged = Attention.core(tf, new Attention.Projected(q, k, v),
          tf.constant(new int[] {ROWS, LENGTH}), HEADS, bias, Precision.FLOAT32); // [N, Hq*D]
      Operand<TFloat32> loss = tf.sum(tf.math.square(merged), tf.constant(new int[] {0, 1})); // []
      tf.gradients(loss, List.of(q, k, v));
      int rebuilt = 0;
      for (Iterator<GraphOperation> it = graph.operations(); it.hasNext(); ) {
        GraphOperation op = it.next();
        boolean backward = op.name().startsWith("Gradients");
        for (int i = 0; i < op.numInputs(); i++) {
          GraphOperation from = (GraphOperation) op.input(i).op();
          boolean forwardSoftmax = from.type().equals("Softmax") && !from.name().startsWith("Gradients");
          assertFalse(backward && forwardSoftmax, op.name() + " reads the forward pass's " + from.name());
        }
        if (backward && op.type().equals("Einsum") && op.input(0).op().type().equals("IdentityN")) {
          GraphOperation late = (GraphOperation) op.input(0).op();
          assertTrue(late.input(1).op().name().startsWith("Gradients"), op.name() + " waits for " + late.input(1).op());
          rebuilt++;
        }
      }
      assertEquals(Attention.CAUSAL_BLOCKS, rebuilt, "one rebuilt score product per block");
    }
  }
}
