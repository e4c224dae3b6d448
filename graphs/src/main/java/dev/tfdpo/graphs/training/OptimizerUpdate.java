package dev.tfdpo.graphs.training;

import dev.tfdpo.graphs.GraphScopes;
import dev.tfdpo.ops.AdamW;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.tensorflow.Operand;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.op.Op;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Variable;
import org.tensorflow.types.TBool;
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

  /** The sub-scopes of Adam's moment variables ({@link GraphScopes}). */
  static final List<String> SCOPES = List.of("optimizer/adam_m", "optimizer/adam_v");

  /**
   * Builds the update in {@code optOps}'s scope, the moments in {@link #SCOPES} of {@code scopes}.
   *
   * @param maxGradNorm clipping threshold; 0 or less disables clipping
   * @param scalars the fed per-step AdamW scalars {@code [3]} ({@link AdamW#stepScalars})
   */
  static OptimizerUpdate build(Ops optOps, GraphScopes scopes, ParameterSet params,
      Map<String, Operand<TFloat32>> gradient, double maxGradNorm, AdamW.Hyper adam, Operand<TFloat32> scalars) {
    return build(optOps, scopes, params, gradient, maxGradNorm, adam, scalars, null);
  }

  /**
   * {@link #build}, each parameter's clipping, moments and AdamW arithmetic on its owner's device when
   * {@code sharding} is given (null: all in {@code optOps}'s placement); the caller then runs {@link
   * OptimizerSharding#colocateAssignments} once the graph is complete.
   */
  static OptimizerUpdate build(Ops optOps, GraphScopes scopes, ParameterSet params,
      Map<String, Operand<TFloat32>> gradient, double maxGradNorm, AdamW.Hyper adam, Operand<TFloat32> scalars,
      OptimizerSharding sharding) {
    return build(optOps, scopes, params, gradient, maxGradNorm, adam, scalars, sharding, null);
  }

  /**
   * {@link #build}, the update gated by {@code loss} when it is given: it runs only when the loss, the
   * global gradient norm and every per-parameter norm are finite (what the trainer's non-finite check
   * reads); otherwise every update operation is skipped and nothing changes. The gate is a {@code Switch}
   * on the clipping coefficient and the step's scalars, which every update reads: in the untaken branch
   * TensorFlow marks the updates dead and does not run them, at no cost per weight, and no update
   * operation starts before the whole gradient is known.
   */
  static OptimizerUpdate build(Ops optOps, GraphScopes scopes, ParameterSet params,
      Map<String, Operand<TFloat32>> gradient, double maxGradNorm, AdamW.Hyper adam, Operand<TFloat32> scalars,
      OptimizerSharding sharding, Operand<TFloat32> loss) {
    List<Operand<TFloat32>> norms = new ArrayList<>();
    for (Map.Entry<String, Operand<TFloat32>> g : gradient.entrySet()) {
      Operand<TInt32> axes = allAxes(optOps, params.shapes().get(g.getKey())); // [rank]
      norms.add(optOps.math.sqrt(optOps.reduceSum(optOps.math.square(g.getValue()), axes))); // []
    }
    Operand<TFloat32> gradNorms = optOps.stack(norms); // [#params]
    Operand<TFloat32> gradNorm =
        optOps.math.sqrt(optOps.reduceSum(optOps.math.square(gradNorms), optOps.constant(0))); // []
    Operand<TFloat32> clipCoef = clipCoefficient(optOps, gradNorm, maxGradNorm); // []
    Operand<TBool> finite = null;
    if (loss != null) {
      // The scalars too: AdamW's m, v and weight-decay products that read no gradient would otherwise run
      // at the start of the fused step and hold two model-sized tensors through the whole backward pass.
      finite = allFinite(optOps, loss, gradNorm, gradNorms); // []
      clipCoef = optOps.switchCond(clipCoef, finite).outputTrue(); // []
      scalars = optOps.switchCond(scalars, finite).outputTrue(); // [3]
    }
    AdamW.Shared shared = gated(optOps, AdamW.shared(optOps, scalars, adam), finite); // [] each
    return adamW(optOps, scopes.get(SCOPES.get(0)), scopes.get(SCOPES.get(1)), params, gradient, clipCoef, shared,
        sharding, gradNorm, gradNorms);
  }

  /**
   * A replica's own copy of the update, as each DDP process applies the optimizer to its own copy of the
   * model: AdamW on {@code params} (the replica's copy of the trained weights) from {@code gradient} (its
   * all-reduced gradient, equal to the first replica's), with its own moments in {@code mOps} and
   * {@code vOps}. Clipped by the coefficient of {@code firstNorm}, the first replica's global norm: one
   * scalar crosses, and a task whose CPU sums the norm in another order still applies the first
   * replica's coefficient. The rest is element-wise arithmetic on equal inputs, so the copy stays
   * bitwise equal to the first replica's weights.
   */
  static OptimizerUpdate replica(Ops optOps, Ops mOps, Ops vOps, ParameterSet params,
      Map<String, Operand<TFloat32>> gradient, double maxGradNorm, AdamW.Hyper adam, Operand<TFloat32> scalars,
      Operand<TFloat32> firstNorm) {
    Operand<TFloat32> clipCoef = clipCoefficient(optOps, firstNorm, maxGradNorm); // []
    return adamW(optOps, mOps, vOps, params, gradient, clipCoef, AdamW.shared(optOps, scalars, adam), null,
        firstNorm, null);
  }

  /** Clipping, moments and AdamW for every parameter of {@code params}, from the step's shared values. */
  private static OptimizerUpdate adamW(Ops optOps, Ops mOps, Ops vOps, ParameterSet params,
      Map<String, Operand<TFloat32>> gradient, Operand<TFloat32> clipCoef, AdamW.Shared shared,
      OptimizerSharding sharding, Operand<TFloat32> gradNorm, Operand<TFloat32> gradNorms) {
    Map<Float, AdamW.Shared> scaled = new java.util.HashMap<>(); // LoRA+: one scaled set per multiplier
    Map<String, Variable<TFloat32>> moments = new LinkedHashMap<>();
    List<Op> updates = new ArrayList<>();
    for (String name : params.variables().keySet()) {
      moments.put("adam_m/" + name, GradientAccumulation.zeroVariable(
          sharding == null ? mOps : sharding.on(mOps, name), name, params.shapes().get(name)));
      moments.put("adam_v/" + name, GradientAccumulation.zeroVariable(
          sharding == null ? vOps : sharding.on(vOps, name), name, params.shapes().get(name)));
    }
    Op previous = null;
    for (String name : updateOrder(params.names(), params.shapes(), sharding != null)) {
      // On one device the tensors are updated one after the other: every operation of a tensor's update
      // waits for the previous tensor's assignments. Left to the executor, all tensors' updates become
      // ready at once and their temporaries (AdamW's products, about a model's worth) coexist with the
      // whole gradient. Sharded, each owner device updates its own tensors in parallel.
      Ops chained = sharding != null || previous == null ? optOps : optOps.withControlDependencies(List.of(previous));
      Ops on = sharding == null ? chained : sharding.on(optOps, name); // the owner's device when sharded
      Operand<TFloat32> clipped = on.math.mul(gradient.get(name), clipCoef); // same shape as the parameter
      Variable<TFloat32> m = moments.get("adam_m/" + name);
      Variable<TFloat32> v = moments.get("adam_v/" + name);
      float lrScale = params.lrScale(name);
      AdamW.Shared s = lrScale == 1f ? shared : scaled.computeIfAbsent(lrScale, k -> scaledLr(optOps, shared, k));
      List<Op> assigns = AdamW.update(on, params.variables().get(name), clipped, m, v, s, params.decays().get(name));
      updates.addAll(assigns);
      previous = sharding != null ? null : optOps.withControlDependencies(assigns).withName("updated_" + updates.size() / 3).noOp();
    }
    return new OptimizerUpdate(gradNorm, gradNorms, updates, moments);
  }

  /**
   * The order of the chained updates: smallest tensor first, so that the largest (a vocabulary-sized
   * embedding) is updated when every other tensor's gradient has been applied and freed; updated first,
   * its temporaries coexisted with the whole gradient at the step's peak. Sharded updates are not
   * chained, and keep the parameters' order.
   */
  static List<String> updateOrder(List<String> names, Map<String, Shape> shapes, boolean sharded) {
    List<String> order = new ArrayList<>(names);
    if (!sharded) {
      order.sort(java.util.Comparator.comparingLong(name -> shapes.get(name).size())); // stable: ties keep their order
    }
    return order;
  }

  /**
   * The shared scalars at {@code k} times the learning rate (LoRA+): the step size {@code k lr / (1 -
   * b1^t)} and the decoupled decay factor {@code 1 - k lr wd = 1 - k (1 - decayFactor)}.
   */
  private static AdamW.Shared scaledLr(Ops tf, AdamW.Shared s, float k) {
    Operand<TFloat32> scale = tf.constant(k); // []
    Operand<TFloat32> one = tf.constant(1f); // []
    Operand<TFloat32> decay = tf.math.sub(one, tf.math.mul(scale, tf.math.sub(one, s.decayFactor()))); // []
    return new AdamW.Shared(decay, tf.math.mul(s.stepSize(), scale), s.bc2Sqrt(), s.oneMinusBeta1(),
        s.oneMinusBeta2(), s.beta2(), s.epsilon()); // [] each
  }

  /** {@code s} with its constants behind the gate too ({@code v * beta2} reads no other input); null: as is. */
  private static AdamW.Shared gated(Ops tf, AdamW.Shared s, Operand<TBool> finite) {
    if (finite == null) {
      return s;
    }
    java.util.function.UnaryOperator<Operand<TFloat32>> gate = x -> tf.switchCond(x, finite).outputTrue(); // []
    return new AdamW.Shared(s.decayFactor(), s.stepSize(), s.bc2Sqrt(), gate.apply(s.oneMinusBeta1()),
        gate.apply(s.oneMinusBeta2()), gate.apply(s.beta2()), gate.apply(s.epsilon()));
  }

  /** Whether the loss, the global norm and every per-parameter norm are finite {@code []}. */
  private static Operand<TBool> allFinite(
      Ops tf, Operand<TFloat32> loss, Operand<TFloat32> gradNorm, Operand<TFloat32> gradNorms) {
    Operand<TBool> scalars = tf.math.logicalAnd(tf.math.isFinite(loss), tf.math.isFinite(gradNorm)); // []
    return tf.math.logicalAnd(scalars, tf.reduceAll(tf.math.isFinite(gradNorms), tf.constant(0))); // []
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

  /** Every axis of a tensor of static {@code shape}, as one constant (no Rank and Range per parameter). */
  private static Operand<TInt32> allAxes(Ops tf, Shape shape) {
    int[] axes = new int[shape.numDimensions()];
    for (int k = 0; k < axes.length; k++) {
      axes[k] = k;
    }
    return tf.constant(axes); // [rank]
  }
}
