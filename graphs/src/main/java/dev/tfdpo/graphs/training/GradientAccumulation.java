package dev.tfdpo.graphs.training;

import dev.tfdpo.graphs.GraphScopes;
import dev.tfdpo.graphs.Recompute;
import dev.tfdpo.ops.Shapes;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.tensorflow.Operand;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.op.Op;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Gradients;
import org.tensorflow.op.core.Variable;
import org.tensorflow.types.TFloat32;

/**
 * The replica seam, first half: the gradient of one micro-batch's loss with respect to the trainable
 * {@link ParameterSet}, added (times a fed scale) into one accumulator per parameter. {@link #combined}
 * is the one place where accumulated gradients are read for the update ({@link OptimizerUpdate}); with
 * several replicas, the all-reduce goes there and nowhere else.
 *
 * <p>{@link #direct}: no accumulators, for a step of one micro-batch on one replica: the update reads the
 * gradient in the same session run that computes it, and a model's worth of accumulator variables is
 * never allocated.
 */
final class GradientAccumulation {

  /** The sub-scope of the accumulator variables ({@link GraphScopes}). */
  static final String SCOPE = "optimizer/grad_accum";

  private final Map<String, Variable<TFloat32>> accumulators;
  private final Op accumulate;
  /** The gradient times the scale by parameter name, read directly ({@link #direct}); null otherwise. */
  private final Map<String, Operand<TFloat32>> direct;
  /** The trainable parameters' names, in order (read at every step's norms). */
  private final List<String> names;

  private GradientAccumulation(
      Map<String, Variable<TFloat32>> accumulators, Op accumulate, Map<String, Operand<TFloat32>> direct) {
    this.accumulators = accumulators;
    this.accumulate = accumulate;
    this.direct = direct;
    this.names = List.copyOf(direct != null ? direct.keySet() : accumulators.keySet());
  }

  /**
   * The gradient {@code d loss / d params * scale} without accumulators: {@link #combined} returns it as
   * computed, and there is no {@link #accumulate} target; the update must run in the same session run.
   */
  static GradientAccumulation direct(Ops tf, Ops optOps, Operand<TFloat32> loss, ParameterSet params,
      Operand<TFloat32> scale, Recompute tape) {
    List<Operand<TFloat32>> grads = gradients(tf, loss, params, tape);
    Map<String, Operand<TFloat32>> scaled = new LinkedHashMap<>();
    int i = 0;
    for (String name : params.names()) {
      scaled.put(name, optOps.math.mul(grads.get(i++), scale)); // same shape as the parameter
    }
    return new GradientAccumulation(Map.of(), null, scaled);
  }

  /** Whether this is {@link #direct} (no accumulators). */
  boolean isDirect() {
    return direct != null;
  }

  /** The trainable parameters' names, in order. */
  List<String> names() {
    return names;
  }

  /**
   * Builds {@code accumulators += d loss / d params * scale}; {@code tf} is the graph's root scope (the
   * gradient ops), {@code optOps} the optimizer's, and the accumulators go into {@link #SCOPE} of
   * {@code scopes}. With a {@code tape} (recompute) the gradient is taken block by block through it.
   */
  static GradientAccumulation build(Ops tf, Ops optOps, GraphScopes scopes, Operand<TFloat32> loss,
      ParameterSet params, Operand<TFloat32> scale, Recompute tape) {
    return build(tf, optOps, scopes.get(SCOPE), loss, params, scale, tape);
  }

  /**
   * {@link #build(Ops, Ops, GraphScopes, Operand, ParameterSet, Operand, Recompute)} with the accumulators
   * in {@code accOps} (a data-parallel replica's).
   */
  static GradientAccumulation build(Ops tf, Ops optOps, Ops accOps, Operand<TFloat32> loss,
      ParameterSet params, Operand<TFloat32> scale, Recompute tape) {
    List<Operand<TFloat32>> grads = gradients(tf, loss, params, tape);
    Map<String, Variable<TFloat32>> accumulators = new LinkedHashMap<>();
    List<Op> adds = new ArrayList<>();
    int i = 0;
    for (String name : params.names()) {
      Variable<TFloat32> acc = zeroVariable(accOps, name, params.shapes().get(name));
      accumulators.put(name, acc);
      Operand<TFloat32> g = grads.get(i++); // same shape as the parameter
      adds.add(optOps.assignAdd(acc, optOps.math.mul(g, scale)));
    }
    Op accumulate = optOps.withControlDependencies(adds).withName("accumulate").noOp();
    return new GradientAccumulation(accumulators, accumulate, null);
  }

  /** {@code d loss / d params}, one per parameter in order: block by block through {@code tape}, or {@link #plain}. */
  private static List<Operand<TFloat32>> gradients(Ops tf, Operand<TFloat32> loss, ParameterSet params, Recompute tape) {
    return tape == null ? plain(tf, loss, params) : tape.gradients(tf, loss, params.reads());
  }

  /** One {@code tf.gradients} call over the whole graph: the backward pass keeps every activation. */
  private static List<Operand<TFloat32>> plain(Ops tf, Operand<TFloat32> loss, ParameterSet params) {
    Gradients grads = tf.gradients(loss, params.reads());
    List<Operand<TFloat32>> out = new ArrayList<>(params.reads().size());
    for (int i = 0; i < params.reads().size(); i++) {
      out.add(grads.<TFloat32>dy(i)); // same shape as parameter i
    }
    return out;
  }

  /** The target that runs one micro-batch's backward pass into the accumulators. */
  Op accumulate() {
    if (direct != null) {
      throw new IllegalStateException("a direct gradient has no accumulators: the update reads it in its own run");
    }
    return accumulate;
  }

  /** The accumulator variables by parameter name (for tests and diagnostics). */
  Map<String, Variable<TFloat32>> accumulators() {
    return accumulators;
  }

  /**
   * The gradient the update applies, by parameter name: where replicas' gradients are combined. With one
   * replica it is this replica's accumulated gradient, read as it is.
   */
  Map<String, Operand<TFloat32>> combined(Ops optOps) {
    if (direct != null) {
      return direct;
    }
    Map<String, Operand<TFloat32>> out = new LinkedHashMap<>();
    accumulators.forEach((name, acc) -> out.put(name, optOps.identity(acc))); // same shape as the parameter
    return out;
  }

  /** An op that zeroes every accumulator after {@code updates} ran (direct: one op after the updates). */
  Op resetAfter(Ops optOps, List<Op> updates, String name) {
    if (direct != null) {
      return optOps.withControlDependencies(updates).withName(name).noOp();
    }
    // One op gathers the updates: every reset depending on each update directly gave #params^2 control
    // edges (half a million at 30 layers), which Grappler and the session walked at every new run.
    Op updated = optOps.withControlDependencies(updates).withName("updated").noOp();
    Ops afterUpdate = optOps.withControlDependencies(List.of(updated));
    List<Op> resets = new ArrayList<>();
    for (Variable<TFloat32> acc : accumulators.values()) {
      resets.add(afterUpdate.assign(acc, afterUpdate.zerosLike(acc))); // like acc
    }
    return optOps.withControlDependencies(resets).withName(name).noOp();
  }

  /** A variable {@code name} initialized to zeros of {@code shape} (Shapes.zeros: no sub-scope, no graph walk). */
  static Variable<TFloat32> zeroVariable(Ops tf, String name, Shape shape) {
    Operand<TFloat32> init = Shapes.zeros(tf, tf.constant(shape.asArray()), TFloat32.class); // shape
    return tf.withName(name).variable(init);
  }
}
