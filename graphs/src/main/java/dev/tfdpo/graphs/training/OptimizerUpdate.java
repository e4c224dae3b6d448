package dev.tfdpo.graphs.training;

import dev.tfdpo.ops.AdamW;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.tensorflow.Operand;
import org.tensorflow.op.Op;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Variable;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt32;

/**
 * The replica seam, second half: from the combined gradient ({@link GradientAccumulation#combined}),
 * the global and per-parameter norms, torch's global-norm clipping and AdamW on the trainable
 * {@link ParameterSet}. It never sees a micro-batch.
 *
 * @param gradNorm global L2 norm of the combined gradient {@code []}
 * @param gradNorms per-parameter L2 norms {@code [#params]}
 * @param updates the AdamW assignments (the caller resets the accumulators after them)
 * @param moments Adam's m and v variables, named {@code adam_m/<name>}, {@code adam_v/<name>}
 */
record OptimizerUpdate(
    Operand<TFloat32> gradNorm, Operand<TFloat32> gradNorms, List<Op> updates,
    Map<String, Variable<TFloat32>> moments) {

  /** torch's {@code clip_grad_norm_} adds this to the norm before dividing. */
  static final float CLIP_EPSILON = 1e-6f;

  /**
   * Builds the update in {@code optOps}'s scope.
   *
   * @param maxGradNorm clipping threshold; 0 or less disables clipping
   * @param scalars the fed per-step AdamW scalars {@code [3]} ({@link AdamW#stepScalars})
   */
  static OptimizerUpdate build(Ops optOps, ParameterSet params, Map<String, Operand<TFloat32>> gradient,
      double maxGradNorm, AdamW.Hyper adam, Operand<TFloat32> scalars) {
    List<Operand<TFloat32>> norms = new ArrayList<>();
    for (Operand<TFloat32> g : gradient.values()) {
      norms.add(optOps.math.sqrt(optOps.reduceSum(optOps.math.square(g), allAxes(optOps, g)))); // []
    }
    Operand<TFloat32> gradNorms = optOps.stack(norms); // [#params]
    Operand<TFloat32> gradNorm =
        optOps.math.sqrt(optOps.reduceSum(optOps.math.square(gradNorms), optOps.constant(0))); // []
    Operand<TFloat32> clipCoef = clipCoefficient(optOps, gradNorm, maxGradNorm); // []
    Ops mOps = optOps.withSubScope("adam_m");
    Ops vOps = optOps.withSubScope("adam_v");
    Map<String, Variable<TFloat32>> moments = new LinkedHashMap<>();
    List<Op> updates = new ArrayList<>();
    for (Map.Entry<String, Variable<TFloat32>> e : params.variables().entrySet()) {
      String name = e.getKey();
      Operand<TFloat32> clipped = optOps.math.mul(gradient.get(name), clipCoef); // same shape as the parameter
      Variable<TFloat32> m = GradientAccumulation.zeros(mOps, name, params.shapes().get(name));
      Variable<TFloat32> v = GradientAccumulation.zeros(vOps, name, params.shapes().get(name));
      moments.put("adam_m/" + name, m);
      moments.put("adam_v/" + name, v);
      updates.addAll(AdamW.update(optOps, e.getValue(), clipped, m, v, scalars, adam, params.decays().get(name)));
    }
    return new OptimizerUpdate(gradNorm, gradNorms, updates, moments);
  }

  /** torch's {@code clip_grad_norm_} coefficient {@code min(1, max / (norm + 1e-6))}, or 1 when off. */
  private static Operand<TFloat32> clipCoefficient(Ops tf, Operand<TFloat32> norm, double maxNorm) {
    if (maxNorm <= 0) {
      return tf.constant(1f);
    }
    Operand<TFloat32> coef =
        tf.math.div(tf.constant((float) maxNorm), tf.math.add(norm, tf.constant(CLIP_EPSILON)));
    return tf.math.minimum(coef, tf.constant(1f));
  }

  private static Operand<TInt32> allAxes(Ops tf, Operand<?> x) {
    Operand<TInt32> rank = tf.rank(x);
    return tf.range(tf.constant(0), rank, tf.constant(1));
  }
}
