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
import org.tensorflow.ndarray.Shape;
import org.tensorflow.ndarray.buffer.DataBuffers;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Gradients;
import org.tensorflow.op.core.Placeholder;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt32;

/**
 * The two readings of the target logit ({@link CompletionLogProbs.TargetLogit}) give the same log-probs
 * and the same gradients with respect to the hidden states and the head: the row product is the frozen
 * head's memory-saving path, the gather from the logits the trained head's.
 */
class TargetLogitTest {

  static final int R = 2;
  static final int L = 6;
  static final int H = 8;
  static final int V = 50;
  static final int S = 4;

  /**
   * 9 predictions over the 2 rows' positions, sequences 0..3, one filler (-1); position 4 predicts twice (a
   * packed prompt's last position).
   */
  static final int[] POSITIONS = {0, 1, 2, 4, 4, 6, 7, 8, 10};
  static final int[] SEQUENCE = {0, 0, 1, 1, 2, 3, 3, 3, -1};

  /** Gaussian hidden states (times {@code scale}) and head, and a random target per prediction. */
  record Inputs(float[] hidden, float[] head, int[] targets) {
    static Inputs random(long seed, float scale) {
      Random random = new Random(seed);
      float[] hidden = new float[R * L * H];
      float[] head = new float[V * H];
      for (int i = 0; i < hidden.length; i++) {
        hidden[i] = (float) (scale * random.nextGaussian());
      }
      for (int i = 0; i < head.length; i++) {
        head[i] = (float) random.nextGaussian();
      }
      int[] targets = new int[POSITIONS.length];
      for (int i = 0; i < targets.length; i++) {
        targets[i] = random.nextInt(V);
      }
      return new Inputs(hidden, head, targets);
    }
  }

  @Test
  void rowProductEqualsTheGatherInValueAndGradient() {
    Inputs in = Inputs.random(11, 1f);
    float[] hidden = in.hidden();
    float[] head = in.head();
    int[] positions = POSITIONS;
    int[] sequence = SEQUENCE;
    int[] targets = in.targets();
    float[][] gather = run(hidden, head, positions, targets, sequence, CompletionLogProbs.TargetLogit.FROM_LOGITS);
    float[][] product = run(hidden, head, positions, targets, sequence, CompletionLogProbs.TargetLogit.ROW_PRODUCT);
    String[] what = {"logps", "d/d hidden", "d/d head"};
    for (int k = 0; k < what.length; k++) {
      for (int i = 0; i < gather[k].length; i++) {
        // Sums of ~3 log-probs of size ~10 (gaussian logits of norm ~sqrt(H) x sqrt(H)); one float32 dot
        // product of 8 terms rounds differently: 1e-5 absolute is a few ulps of them.
        assertEquals(gather[k][i], product[k][i], 1e-5, what[k] + " " + i);
      }
    }
  }

  /**
   * The lean log-softmax gradient (the exponentials turned into {@code d logits} in place, the target's
   * gradient added at one entry per row) gives bitwise TensorFlow's own gradient of the plain form, for
   * either reading of the target; and its backward pass has neither the tiled sum gradient nor the
   * scattered gather gradient, the two {@code [Nc, V]} tensors it saves.
   */
  @Test
  void leanGradientEqualsThePlainOneBitwise() {
    assertTrue(LeanGradients.active(), "the IdentityN gradient registers on this OS");
    Inputs in = Inputs.random(5, 3f); // peaked and flat softmax rows
    float[] hidden = in.hidden();
    float[] head = in.head();
    int[] positions = POSITIONS;
    int[] sequence = SEQUENCE;
    int[] targets = in.targets();
    for (CompletionLogProbs.TargetLogit target : CompletionLogProbs.TargetLogit.values()) {
      float[][] lean = run(hidden, head, positions, targets, sequence, target);
      float[][] plain = LeanGradients.plain(() -> run(hidden, head, positions, targets, sequence, target));
      String[] what = {"logps", "d/d hidden", "d/d head"};
      for (int k = 0; k < what.length; k++) {
        assertArrayEquals(plain[k], lean[k], 0f, target + " " + what[k]);
      }
    }
    try (Graph g = new Graph()) {
      Ops tf = Ops.create(g);
      Operand<TFloat32> hiddenT = tf.placeholder(TFloat32.class, Placeholder.shape(Shape.of(R, L, H)));
      Operand<TFloat32> headT = tf.placeholder(TFloat32.class, Placeholder.shape(Shape.of(V, H)));
      CompletionLogProbs.Result res = CompletionLogProbs.compute(tf, hiddenT, headT, tf.constant(positions),
          tf.constant(targets), tf.constant(sequence), tf.constant(S), Precision.FLOAT32,
          CompletionLogProbs.TargetLogit.FROM_LOGITS, true);
      tf.gradients(tf.reduceSum(res.logps(), tf.constant(0)), List.of(hiddenT, headT));
      for (Iterator<GraphOperation> it = g.operations(); it.hasNext(); ) {
        GraphOperation op = it.next();
        if (op.name().startsWith("Gradients") && op.output(0).shape().numDimensions() == 2) { // [Nc, V]
          assertFalse(op.type().equals("Tile") || op.type().equals("ScatterNd"), op.name() + " " + op.type());
        }
      }
    }
  }

  /** logps {@code [S]} and the gradients of {@code sum_s (s + 1) logps_s} with respect to hidden and head. */
  private static float[][] run(float[] hidden, float[] head, int[] positions, int[] targets, int[] sequence,
      CompletionLogProbs.TargetLogit target) {
    try (Graph g = new Graph()) {
      Ops tf = Ops.create(g);
      Operand<TFloat32> hiddenT = tf.constant(Shape.of(R, L, H), DataBuffers.of(hidden));
      Operand<TFloat32> headT = tf.constant(Shape.of(V, H), DataBuffers.of(head));
      CompletionLogProbs.Result res = CompletionLogProbs.compute(tf, hiddenT, headT,
          tf.constant(positions), tf.constant(targets), tf.constant(sequence), tf.constant(S), Precision.FLOAT32,
          target, true);
      Operand<TFloat32> weighted = tf.reduceSum(tf.math.mul(res.logps(), tf.constant(new float[] {1, 2, 3, 4})),
          tf.constant(0)); // []
      Gradients grad = tf.gradients(weighted, List.of(hiddenT, headT));
      try (Session s = new Session(g)) {
        return Fetched.floats(s.runner().fetch(res.logps()).fetch(grad.dy(0)).fetch(grad.dy(1))).toArray(float[][]::new);
      }
    }
  }
}
