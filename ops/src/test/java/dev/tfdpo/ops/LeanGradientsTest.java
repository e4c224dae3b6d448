package dev.tfdpo.ops;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Iterator;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.tensorflow.Graph;
import org.tensorflow.GraphOperation;
import org.tensorflow.Operand;
import org.tensorflow.op.Ops;
import org.tensorflow.types.TFloat32;

/**
 * {@link LeanGradients}: {@code Square}'s gradient computes {@code 2 * x} in the backward pass; marks are
 * found under TensorFlow's name suffixes. (The gradients' values: RmsNormTest, GatedSiluTest, TargetLogitTest.)
 */
class LeanGradientsTest {

  private static final int N = 29;
  private static final int H = 41;

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
