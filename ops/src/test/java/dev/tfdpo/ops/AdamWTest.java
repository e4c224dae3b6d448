package dev.tfdpo.ops;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.tensorflow.Graph;
import org.tensorflow.GraphOperation;
import org.tensorflow.Operand;
import org.tensorflow.Session;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.ndarray.buffer.DataBuffers;
import org.tensorflow.op.Op;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Placeholder;
import org.tensorflow.op.core.Variable;
import org.tensorflow.types.TFloat32;

/**
 * {@link AdamW}: two steps of one tensor against torch's AdamW arithmetic written out in float32, with and
 * without weight decay; and the order that keeps at most two temporaries alive (m's update written before
 * v's temporaries start, the decayed parameter computed after the step).
 */
class AdamWTest {

  private static final int SIZE = 37;
  private static final AdamW.Hyper HYPER = new AdamW.Hyper(0.9f, 0.999f, 1e-8f);
  private static final double LR = 5e-3;
  private static final double WEIGHT_DECAY = 0.05;

  @Test
  void twoStepsEqualTorchsArithmeticBitwise() {
    for (boolean decays : new boolean[] {true, false}) {
      Random random = new Random(3);
      float[] p = gaussian(random);
      float[][] grads = {gaussian(random), gaussian(random)};
      float[] want = byHand(p, grads, decays);
      assertArrayEquals(want, inGraph(p, grads, decays), 0f, "decays " + decays);
    }
  }

  /**
   * torch's {@code _single_tensor_adamw} in float32, one operation at a time as {@link AdamW#update} orders
   * them: each float operation is IEEE-rounded alike in Java and in TensorFlow's element-wise kernels, so
   * the two agree to the bit.
   */
  private static float[] byHand(float[] p0, float[][] grads, boolean decays) {
    float[] p = p0.clone();
    float[] m = new float[SIZE];
    float[] v = new float[SIZE];
    for (int t = 1; t <= grads.length; t++) {
      float[] s = AdamW.stepScalars(LR, WEIGHT_DECAY, HYPER, t);
      for (int i = 0; i < SIZE; i++) {
        float g = grads[t - 1][i];
        m[i] = m[i] + (1f - HYPER.beta1()) * (g - m[i]);
        v[i] = v[i] * HYPER.beta2() + ((1f - HYPER.beta2()) * g) * g;
        float denom = (float) Math.sqrt(v[i]) / s[AdamW.BIAS_CORRECTION2_SQRT] + HYPER.epsilon();
        float step = s[AdamW.STEP_SIZE] * (m[i] / denom);
        float decayed = decays ? p[i] * s[AdamW.DECAY_FACTOR] : p[i];
        p[i] = decayed - step;
      }
    }
    return p;
  }

  private static float[] inGraph(float[] p0, float[][] grads, boolean decays) {
    try (Graph g = new Graph(); Session s = new Session(g)) {
      Ops tf = Ops.create(g);
      Variable<TFloat32> p = tf.variable(Shape.of(SIZE), TFloat32.class);
      Variable<TFloat32> m = tf.variable(Shape.of(SIZE), TFloat32.class);
      Variable<TFloat32> v = tf.variable(Shape.of(SIZE), TFloat32.class);
      List<Op> init = List.of(assign(tf, p, p0), assign(tf, m, new float[SIZE]), assign(tf, v, new float[SIZE]));
      Placeholder<TFloat32> grad = tf.placeholder(TFloat32.class); // [SIZE]
      Placeholder<TFloat32> scalars = tf.placeholder(TFloat32.class); // [SCALARS]
      List<Op> updates = AdamW.update(tf, p, grad, m, v, AdamW.shared(tf, scalars, HYPER), decays);
      Session.Runner initRun = s.runner();
      init.forEach(initRun::addTarget);
      initRun.run().close();
      for (int t = 1; t <= grads.length; t++) {
        try (TFloat32 gT = TFloat32.tensorOf(Shape.of(SIZE), DataBuffers.of(grads[t - 1]));
            TFloat32 sT = TFloat32.tensorOf(Shape.of(AdamW.SCALARS), DataBuffers.of(AdamW.stepScalars(LR, WEIGHT_DECAY, HYPER, t)))) {
          Session.Runner run = s.runner().feed(grad, gT).feed(scalars, sT);
          updates.forEach(run::addTarget);
          run.run().close();
        }
      }
      return Fetched.floats(s.runner().fetch(p)).get(0);
    }
  }

  /**
   * The stages of one tensor's update run one after the other: v's first products wait (control edge) for
   * m's {@code AssignAdd}, the step reads the moments through their assignments, and the weight decay's
   * product waits for the step. Left to the executor, these temporaries coexisted.
   */
  @Test
  void stagesWaitForTheOneBefore() {
    try (Graph g = new Graph()) {
      Ops tf = Ops.create(g);
      Variable<TFloat32> p = tf.variable(Shape.of(SIZE), TFloat32.class);
      Variable<TFloat32> m = tf.variable(Shape.of(SIZE), TFloat32.class);
      Variable<TFloat32> v = tf.variable(Shape.of(SIZE), TFloat32.class);
      Operand<TFloat32> grad = tf.placeholder(TFloat32.class); // [SIZE]
      List<Op> updates = AdamW.update(tf, p, grad, m, v,
          AdamW.shared(tf, tf.placeholder(TFloat32.class), HYPER), true);
      GraphOperation mAssign = (GraphOperation) updates.get(1).op();
      GraphOperation vAssign = (GraphOperation) updates.get(2).op();
      assertEquals("AssignAdd", mAssign.type());
      List<GraphOperation> afterM = new ArrayList<>();
      List<GraphOperation> decay = new ArrayList<>();
      for (var it = g.operations(); it.hasNext(); ) {
        GraphOperation op = it.next();
        if (op.controlInputs().contains(mAssign)) {
          afterM.add(op);
        }
        if (op.type().equals("Mul") && op.numControlInputs() > 0 && op.input(0).op().equals(p.op())) {
          decay.add(op);
        }
      }
      assertEquals(2, afterM.size(), "(1 - b2) * g and v * b2 wait for m's assignment: " + afterM);
      assertEquals(1, decay.size(), "the decayed parameter waits for the step");
      GraphOperation step = (GraphOperation) decay.get(0).controlInputs().iterator().next();
      assertTrue(reads(step, mAssign) && reads(step, vAssign), "the step reads the assigned moments");
    }
  }

  /** Whether {@code op} reads {@code source} within a few operations upstream. */
  private static boolean reads(GraphOperation op, GraphOperation source) {
    if (op.equals(source)) {
      return true;
    }
    for (int i = 0; i < op.numInputs(); i++) {
      GraphOperation in = (GraphOperation) op.input(i).op();
      if (in.equals(source) || (!in.type().equals("VariableV2") && reads(in, source))) {
        return true;
      }
    }
    return false;
  }

  private static Op assign(Ops tf, Variable<TFloat32> var, float[] values) {
    return tf.assign(var, tf.constant(Shape.of(SIZE), DataBuffers.of(values)));
  }

  private static float[] gaussian(Random random) {
    float[] a = new float[SIZE];
    for (int i = 0; i < SIZE; i++) {
      a[i] = (float) random.nextGaussian();
    }
    return a;
  }
}
