package dev.tfdpo.graphs.training;

import dev.tfdpo.graphs.GraphScopes;
import dev.tfdpo.graphs.Llama;
import dev.tfdpo.graphs.LoraAdapters;
import dev.tfdpo.graphs.WeightLoader;
import dev.tfdpo.ops.CompletionLogProbs;
import dev.tfdpo.ops.LowRank;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.tensorflow.Operand;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.op.Op;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Placeholder;
import org.tensorflow.op.core.Variable;
import org.tensorflow.types.TFloat32;

/**
 * The reference's side of the training graph, for each {@link DpoGraph.ReferenceMode}: what the
 * objective reads as reference scores, what a micro-batch run fetches or feeds, and for a live
 * reference its frozen weights, loader and sync op. Nothing of the reference has a gradient.
 *
 * @param mode where the reference log-probs come from
 * @param scores what the objective reads {@code [S]}: stopped-gradient scores, the fed values, or zeros
 * @param logps plain per-sequence log-probs to fetch (LIVE), the fed placeholder (FED), or null (NONE)
 * @param fed the placeholder fed per micro-batch (FED only, else null)
 * @param loader loader of the live reference's weights (LIVE only, else null)
 * @param sync the op that moves the reference towards the policy (a synced LIVE reference, else null)
 * @param mutable the reference's variables when they change during training (so are checkpointed)
 * @param model the live reference model (LIVE only, else null), shared by data-parallel replicas: a LoRA
 *     run's is the policy's own frozen base
 * @param adapters the low-rank terms the live reference's forward adds by projection path (a LoRA run's
 *     frozen starting adapter), shared by data-parallel replicas; empty: none
 */
record ReferenceBranch(
    DpoGraph.ReferenceMode mode,
    Operand<TFloat32> scores,
    Operand<TFloat32> logps,
    Placeholder<TFloat32> fed,
    WeightLoader loader,
    Op sync,
    Map<String, Variable<TFloat32>> mutable,
    Llama model,
    Map<String, LowRank> adapters) {

  /** A branch whose reference forward adds no adapters. */
  ReferenceBranch(DpoGraph.ReferenceMode mode, Operand<TFloat32> scores, Operand<TFloat32> logps,
      Placeholder<TFloat32> fed, WeightLoader loader, Op sync, Map<String, Variable<TFloat32>> mutable, Llama model) {
    this(mode, scores, logps, fed, loader, sync, mutable, model, Map.of());
  }

  /**
   * The sub-scopes the branch uses ({@link GraphScopes}): a live reference's variables, loader, forward
   * pass and sync; none for the other modes.
   */
  static List<String> scopeNames(DpoGraph.Reference r, LoraTraining lora) {
    if (r.mode() != DpoGraph.ReferenceMode.LIVE) {
      return List.of();
    }
    if (lora != null) {
      List<String> names = new ArrayList<>(List.of("reference_forward"));
      if (lora.frozenStart()) {
        names.addAll(LoraAdapters.scopeNames(LoraTraining.REFERENCE_SCOPE));
      }
      return names;
    }
    List<String> names = new ArrayList<>(Llama.scopeNames("reference"));
    names.addAll(List.of("reference_forward", "reference_sync"));
    return names;
  }

  /**
   * Builds the branch in the graph of {@code scopes} (its {@link #scopeNames} reserved), before the
   * policy's forward pass (which may then wait for it, {@link BatchInputs#after}); {@code lossOps} is
   * the objective's scope.
   */
  static ReferenceBranch build(GraphScopes scopes, Ops lossOps, DpoGraph.Settings s, BatchInputs inputs,
      Llama policy, Objective objective) {
    Ops tf = scopes.root();
    DpoGraph.Reference r = s.reference();
    // Zeros are shaped from the fed batch, which does not depend on the weights: ZerosLike of a
    // weight-dependent value would sit on the policy's gradient path.
    return switch (r.mode()) {
      case LIVE -> live(scopes, lossOps, s, inputs, policy, objective);
      case FED -> {
        Placeholder<TFloat32> fed = tf.withName("reference_logps")
            .placeholder(TFloat32.class, Placeholder.shape(Shape.of(Shape.UNKNOWN_SIZE))); // [S]
        Operand<TFloat32> scores = objective.readsReference() ? fed : inputs.zerosPerSequence(lossOps); // [S]
        yield new ReferenceBranch(r.mode(), scores, fed, fed, null, null, Map.of(), null);
      }
      case NONE -> new ReferenceBranch(
          r.mode(), inputs.zerosPerSequence(lossOps), null, null, null, null, Map.of(), null); // [S]
    };
  }

  /**
   * A LoRA run's live reference: the policy's own frozen base, with a frozen copy of the starting
   * adapters when {@code lora.frozenStart()} (returned in {@code adapters[0]} for loading), else with
   * none. No reference copy of the base exists; the branch has no loader, no sync and no gradient. Its
   * model is the policy and its adapters the starting copy's, so data-parallel replicas build the same
   * reference forward ({@link #replica}).
   */
  static ReferenceBranch sharedBase(GraphScopes scopes, Ops lossOps, DpoGraph.Reference r, BatchInputs inputs,
      Llama policy, LoraTraining lora, Objective objective, LoraAdapters[] adapters) {
    if (r.syncAlpha() > 0) {
      throw new IllegalArgumentException("a LoRA run's reference is the starting policy; it cannot be synced");
    }
    LoraAdapters start = lora.frozenStart()
        ? LoraAdapters.create(scopes, policy.config(), lora.spec(), LoraTraining.REFERENCE_SCOPE) : null;
    adapters[0] = start;
    Map<String, LowRank> startTerms = start == null ? Map.of() : start.byModule();
    CompletionLogProbs.Result ref = inputs.logProbs(scopes.get("reference_forward"), policy, startTerms); // [S] each
    Operand<TFloat32> logps = scopes.root().stopGradient(ref.logps()); // [S]
    Operand<TFloat32> scores = objective.readsReference()
        ? lossOps.stopGradient(objective.sequenceScores(lossOps, ref))
        : inputs.zerosPerSequence(lossOps); // [S]
    return new ReferenceBranch(r.mode(), scores, logps, null, null, null, Map.of(), policy, startTerms);
  }

  private static ReferenceBranch live(GraphScopes scopes, Ops lossOps, DpoGraph.Settings s, BatchInputs inputs,
      Llama policy, Objective objective) {
    DpoGraph.Reference r = s.reference();
    // The reference computes in the policy's precision; bf16 O2 also stores it in bfloat16.
    Llama reference = Llama.create(scopes, r.model(), "reference", s.referenceStorage(), s.compute());
    // A reference that syncs with the policy is training state: it goes into checkpoints.
    Map<String, Variable<TFloat32>> mutable = r.syncAlpha() > 0 ? reference.variables() : Map.of();
    WeightLoader loader = WeightLoader.create(scopes, reference);
    CompletionLogProbs.Result ref = inputs.logProbs(scopes.get("reference_forward"), reference); // [S] each
    Operand<TFloat32> logps = scopes.root().stopGradient(ref.logps()); // [S]
    // A live reference with an objective that never reads it still feeds zeros, so metrics match NONE.
    Operand<TFloat32> scores = objective.readsReference()
        ? lossOps.stopGradient(objective.sequenceScores(lossOps, ref))
        : inputs.zerosPerSequence(lossOps); // [S]
    Op sync = r.syncAlpha() > 0 ? syncOp(scopes.get("reference_sync"), policy, reference, r.syncAlpha()) : null;
    return new ReferenceBranch(r.mode(), scores, logps, null, loader, sync, mutable, reference);
  }

  /**
   * The branch of a further data-parallel replica: the same mode over the replica's own inputs, sharing
   * the first replica's reference variables (LIVE), which alone loads, syncs and checkpoints them; a LoRA
   * run's replicas read the policy's shared frozen base and the one frozen starting adapter.
   *
   * @param model the model a live reference's forward reads: the first replica's, or its copy on this
   *     replica's device ({@link DataParallel#replica})
   * @param tf the replica's root scope (its fed placeholder), {@code forwardOps} its reference forward pass
   */
  static ReferenceBranch replica(ReferenceBranch first, Llama model, Ops tf, Ops forwardOps, Ops lossOps,
      BatchInputs inputs, Objective objective) {
    return switch (first.mode()) {
      case LIVE -> {
        CompletionLogProbs.Result ref = inputs.logProbs(forwardOps, model, first.adapters()); // [S] each
        Operand<TFloat32> logps = tf.stopGradient(ref.logps()); // [S]
        Operand<TFloat32> scores = objective.readsReference()
            ? lossOps.stopGradient(objective.sequenceScores(lossOps, ref))
            : inputs.zerosPerSequence(lossOps); // [S]
        yield new ReferenceBranch(
            first.mode(), scores, logps, null, null, null, Map.of(), model, first.adapters());
      }
      case FED -> {
        Placeholder<TFloat32> fed = tf.withName("reference_logps")
            .placeholder(TFloat32.class, Placeholder.shape(Shape.of(Shape.UNKNOWN_SIZE))); // [S]
        Operand<TFloat32> scores = objective.readsReference() ? fed : inputs.zerosPerSequence(lossOps); // [S]
        yield new ReferenceBranch(first.mode(), scores, fed, fed, null, null, Map.of(), null);
      }
      case NONE -> new ReferenceBranch(
          first.mode(), inputs.zerosPerSequence(lossOps), null, null, null, null, Map.of(), null); // [S]
    };
  }

  /** One op that moves every reference weight towards the policy's: {@code a*p + (1-a)*r}. */
  private static Op syncOp(Ops tf, Llama policy, Llama reference, double alpha) {
    // The constants are rounded from double, as torch rounds TRL's Python floats.
    Operand<TFloat32> a = tf.constant((float) alpha);
    Operand<TFloat32> keep = tf.constant((float) (1.0 - alpha));
    List<Op> assigns = new ArrayList<>();
    for (Map.Entry<String, Variable<TFloat32>> e : reference.variables().entrySet()) {
      Variable<TFloat32> ref = e.getValue();
      Variable<TFloat32> pol = policy.variables().get(e.getKey());
      if (pol == null) {
        throw new IllegalArgumentException("the policy has no weight " + e.getKey() + " to sync the reference with");
      }
      Operand<TFloat32> value = alpha == 1.0
          ? tf.identity(pol)
          : tf.math.add(tf.math.mul(ref, keep), tf.math.mul(pol, a)); // same shape as the weight
      assigns.add(tf.assign(ref, value));
    }
    return tf.withControlDependencies(assigns).withName("sync").noOp();
  }
}
