package dev.tfdpo.ops;

import java.util.List;
import org.tensorflow.Operand;
import org.tensorflow.op.Op;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Assign;
import org.tensorflow.op.core.AssignAdd;
import org.tensorflow.op.core.Variable;
import org.tensorflow.types.TFloat32;

/**
 * Decoupled-weight-decay Adam with torch's {@code AdamW} arithmetic, step by step:
 * <pre>
 *   p  = p * (1 - lr*wd)                      (decaying tensors only)
 *   m  = m + (1-b1) * (g - m)                 (torch's lerp)
 *   v  = v*b2 + (1-b2)*g*g
 *   p  = p - (lr / (1 - b1^t)) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
 * </pre>
 * The per-step scalars ({@code 1 - lr*wd}, {@code lr/(1-b1^t)}, {@code sqrt(1-b2^t)}) are computed
 * in double precision by the caller, as torch does in Python, and fed as one float vector.
 */
public final class AdamW {

  /** Index of each per-step scalar in the fed vector. */
  public static final int DECAY_FACTOR = 0;

  /** {@code lr / (1 - b1^t)}. */
  public static final int STEP_SIZE = 1;

  /** {@code sqrt(1 - b2^t)}. */
  public static final int BIAS_CORRECTION2_SQRT = 2;

  /** Length of the per-step scalar vector. */
  public static final int SCALARS = 3;

  /** Fixed hyper-parameters. */
  public record Hyper(float beta1, float beta2, float epsilon) {}

  private AdamW() {}

  /** The per-step scalars for optimizer step {@code t} (1-based) at learning rate {@code lr}. */
  public static float[] stepScalars(double lr, double weightDecay, Hyper h, long t) {
    double biasCorrection1 = 1 - Math.pow(h.beta1(), t);
    double biasCorrection2 = 1 - Math.pow(h.beta2(), t);
    float[] s = new float[SCALARS];
    s[DECAY_FACTOR] = (float) (1 - lr * weightDecay);
    s[STEP_SIZE] = (float) (lr / biasCorrection1);
    s[BIAS_CORRECTION2_SQRT] = (float) Math.sqrt(biasCorrection2);
    return s;
  }

  /**
   * The scalar operands every tensor's update reads, built once per graph: built per tensor they were a
   * dozen operations each (gathers and constants), thousands in a deep model's graph.
   *
   * @param decayFactor {@code []} of {@link #DECAY_FACTOR}
   * @param stepSize {@code []} of {@link #STEP_SIZE}
   * @param bc2Sqrt {@code []} of {@link #BIAS_CORRECTION2_SQRT}
   */
  public record Shared(
      Operand<TFloat32> decayFactor,
      Operand<TFloat32> stepSize,
      Operand<TFloat32> bc2Sqrt,
      Operand<TFloat32> oneMinusBeta1,
      Operand<TFloat32> oneMinusBeta2,
      Operand<TFloat32> beta2,
      Operand<TFloat32> epsilon) {}

  /** The shared scalars from the fed vector {@code scalars} ({@code [SCALARS]}). */
  public static Shared shared(Ops tf, Operand<TFloat32> scalars, Hyper h) {
    return new Shared(
        tf.gather(scalars, tf.constant(DECAY_FACTOR), tf.constant(0)), // []
        tf.gather(scalars, tf.constant(STEP_SIZE), tf.constant(0)), // []
        tf.gather(scalars, tf.constant(BIAS_CORRECTION2_SQRT), tf.constant(0)), // []
        tf.constant(1f - h.beta1()), // []
        tf.constant(1f - h.beta2()), // []
        tf.constant(h.beta2()), // []
        tf.constant(h.epsilon())); // []
  }

  /**
   * The update ops of one tensor, reading the scalars built once ({@link #shared}).
   *
   * <p>The moments are written as soon as they are known ({@code AssignAdd} adds torch's lerp step into
   * m's buffer: bitwise {@code m + step}) and the parameter's step reads them back from their variables,
   * and each stage waits for the one before (m, then v, then the step, then the decayed parameter), so at
   * most two parameter-sized temporaries live at a time; left to the executor, m's, v's and the step's
   * temporaries and the new values coexisted (up to five, about 540 MB for the 135M shape's embedding).
   *
   * @param decays whether weight decay applies to this tensor
   * @return assignments of the parameter and both moments
   */
  public static List<Op> update(
      Ops tf,
      Variable<TFloat32> param,
      Operand<TFloat32> grad,
      Variable<TFloat32> m,
      Variable<TFloat32> v,
      Shared s,
      boolean decays) {
    Operand<TFloat32> mStep = tf.math.mul(s.oneMinusBeta1(), tf.math.sub(grad, m)); // like param
    AssignAdd<TFloat32> mNew = tf.assignAdd(m, mStep); // like param: m + (1-b1) * (g - m)
    Ops afterM = tf.withControlDependencies(List.of(mNew)); // m's temporary freed before v's two
    Operand<TFloat32> gradScaled = afterM.math.mul(s.oneMinusBeta2(), grad); // like param
    Operand<TFloat32> vValue = tf.math.add(afterM.math.mul(v, s.beta2()), tf.math.mul(gradScaled, grad)); // like param
    Assign<TFloat32> vNew = tf.assign(v, vValue); // like param
    Operand<TFloat32> denom = tf.math.add(tf.math.div(tf.math.sqrt(vNew), s.bc2Sqrt()), s.epsilon()); // like param
    Operand<TFloat32> step = tf.math.mul(s.stepSize(), tf.math.div(mNew, denom)); // like param
    Ops afterStep = tf.withControlDependencies(List.<Op>of(step));
    Operand<TFloat32> decayed = decays ? afterStep.math.mul(param, s.decayFactor()) : param; // like param
    Assign<TFloat32> pNew = tf.assign(param, tf.math.sub(decayed, step)); // like param
    return List.of(pNew, mNew, vNew);
  }
}
