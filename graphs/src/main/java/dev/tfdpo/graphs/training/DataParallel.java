package dev.tfdpo.graphs.training;

import dev.tfdpo.graphs.GraphScopes;
import dev.tfdpo.graphs.Llama;
import dev.tfdpo.graphs.Recompute;
import dev.tfdpo.ops.AdamW;
import dev.tfdpo.ops.CompletionLogProbs;
import dev.tfdpo.ops.LowRank;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.tensorflow.Graph;
import org.tensorflow.Operand;
import dev.tfdpo.graphs.RequestedDevices;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.op.Op;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Placeholder;
import org.tensorflow.types.TFloat32;

/**
 * Builds the further replicas of a data-parallel {@link DpoGraph} and combines what they return. Replica
 * k (k >= 1) lives in scope {@code replica_k}: its own batch placeholders, forward pass over the shared
 * policy (and live reference) weights, objective, backward pass and accumulators. Every operation it
 * creates, the backward pass included, is then placed on its device ({@link RequestedDevices}): the C++
 * gradient builder ignores the Java scope's device.
 */
final class DataParallel {

  private DataParallel() {}

  /** Sub-scope of a replica's copy of a LoRA run's frozen base ({@link #replica}). */
  static final String MIRRORED_BASE = "base";

  /** Sub-scope of a replica's copy of a frozen live reference ({@link #replica}). */
  static final String MIRRORED_REFERENCE = "reference";

  /** Sub-scope of a replica's copy of the trained policy, refreshed after every update ({@link #replica}). */
  static final String MIRRORED_POLICY = "policy";

  /** Sub-scope of the assignments that refresh a replica's policy copy after an update. */
  static final String POLICY_REFRESH = "policy_refresh";

  /** Sub-scope of the assignments that fill a replica's own AdamW moments from the first replica's. */
  static final String MOMENT_COPIES = "moment_copies";

  /** Scope of replica {@code k} (k >= 1; replica 0 is the graph's own unprefixed names). */
  static String scope(int k) {
    return "replica_" + k;
  }

  /** The sub-scopes of replicas 1..n-1 and of the all-reduce, to reserve while the graph is empty. */
  static List<String> scopeNames(int n) {
    List<String> names = new ArrayList<>();
    if (n > 1) {
      names.add("allreduce");
    }
    for (int k = 1; k < n; k++) {
      String p = scope(k);
      names.addAll(List.of(p, p + "/forward", p + "/loss", p + "/reference_forward", p + "/optimizer",
          p + "/" + GradientAccumulation.SCOPE, p + "/allreduce"));
      names.addAll(Llama.scopeNames(p + "/" + MIRRORED_BASE));
      names.addAll(Llama.scopeNames(p + "/" + MIRRORED_REFERENCE));
      names.addAll(Llama.scopeNames(p + "/" + MIRRORED_POLICY));
      names.add(p + "/" + POLICY_REFRESH);
      names.add(p + "/" + MOMENT_COPIES);
      OptimizerUpdate.SCOPES.forEach(m -> names.add(p + "/" + m));
    }
    return names;
  }

  /** The all-reduce's scope of each replica. */
  static List<Ops> allReduceScopes(GraphScopes scopes, int n) {
    List<Ops> out = new ArrayList<>();
    out.add(scopes.get("allreduce"));
    for (int k = 1; k < n; k++) {
      out.add(scopes.get(scope(k) + "/allreduce"));
    }
    return out;
  }

  /**
   * Builds replica {@code k} over the shared {@code policy} and places all of it on {@code device}. With
   * {@code mirrorFrozen} ({@link Replication#ownCopies}: the replicas are tasks of a gRPC cluster, each a
   * process of its own, possibly on another machine, or GPUs with their own memory) the weights nothing trains get a copy on the replica's device, filled once after the
   * load ({@link Replica#mirrorCopies}): a LoRA run's frozen base and a live reference that does not sync.
   * Without it every forward pass of the replica would read them from the first task across the network,
   * the whole model per micro-batch and pass; with it only the trained weights travel (for LoRA, the
   * adapters). A fully trained policy gets a copy too ({@link Replica#policyCopy}), which the replica
   * updates itself from the all-reduced gradient (with a sharded optimizer, refreshed from the first
   * replica's weights after each update; {@link #afterUpdate}): the weights never
   * travel after the load, and the replica's gradients are taken at its copy's reads. With
   * {@code recompute}, on its own tape, so the recomputed copies and block-wise gradient calls are among
   * the operations placed. {@code adapters}: a LoRA run's low-rank terms by projection path, the reads of
   * the one set of adapter variables every replica shares (its gradients are taken at those reads, as
   * full fine-tuning's at the shared weights'); empty: none. With {@code remote} (a task of a gRPC
   * cluster) the replica's inputs are the batches its task lays out from its own data ({@link BatchQueue}).
   */
  static Replica replica(Graph graph, GraphScopes scopes, int k, String device, Objective objective, Llama policy,
      Map<String, LowRank> adapters, ParameterSet trainable, ReferenceBranch first, Recompute.Granularity recompute,
      CompletionLogProbs.TargetLogit target, boolean mirrorFrozen, boolean remote) {
    int mark = RequestedDevices.count(graph);
    String p = scope(k);
    Ops tf = scopes.get(p);
    Models models = mirrorFrozen ? frozenCopies(scopes, p, tf, policy, !adapters.isEmpty(), first)
        : new Models(policy, first.model(), List.of(), false);
    // A task of a cluster lays out its replica's batches from its own data; other devices are fed.
    BatchInputs inputs = new BatchInputs(tf, target, remote ? BatchQueue.consumer(tf, k) : null);
    Placeholder<TFloat32> gradScale =
        tf.withName("grad_scale").placeholder(TFloat32.class, Placeholder.shape(Shape.scalar())); // []
    Ops lossOps = scopes.get(p + "/loss");
    ReferenceBranch reference = ReferenceBranch.replica(
        first, models.reference(), tf, scopes.get(p + "/reference_forward"), lossOps, inputs, objective);
    // As on the first replica (DpoGraph): a live reference's forward pass runs before the policy's.
    BatchInputs policyInputs = reference.mode() == DpoGraph.ReferenceMode.LIVE ? inputs.after(tf, reference.logps()) : inputs;
    Recompute tape = recompute == null ? null : new Recompute(recompute);
    CompletionLogProbs.Result pol = policyInputs.logProbs(scopes.get(p + "/forward"), models.policy(), adapters, tape); // [S] each
    Operand<TFloat32> policyScores = objective.sequenceScores(lossOps, pol); // [S]
    Objective.Part part = objective.build(lossOps, inputs, pol, policyScores, reference.scores());
    // The gradient at the weights this replica reads: its copy's, when it has one (the same names and order).
    ParameterSet reads = models.trainedCopy() ? ParameterSet.wholeModel(models.policy()) : trainable;
    GradientAccumulation gradients = GradientAccumulation.build(tf, scopes.get(p + "/optimizer"),
        scopes.get(p + "/" + GradientAccumulation.SCOPE), part.loss(), reads, gradScale, tape);
    RequestedDevices.placeUnplaced(graph, mark, device);
    return new Replica(inputs, gradScale, pol.logps(), reference, part.metrics(), gradients, models.copies(),
        models.trainedCopy() ? models.policy() : null);
  }

  /**
   * The models a replica's forward passes read, and the assignments that fill its copies.
   *
   * @param policy the policy model: the shared one, or (LoRA) a copy of the frozen base
   * @param reference the live reference model (null in the other modes): the shared one or a copy
   * @param copies the copies' assignments from the first replica's variables
   * @param trainedCopy whether {@code policy} is a copy of the trained policy (full fine-tuning)
   */
  private record Models(Llama policy, Llama reference, List<Op> copies, boolean trainedCopy) {}

  /**
   * Copies on replica {@code p}'s device: of a LoRA run's frozen base ({@code frozenBase}), which its live
   * reference reads too, or else of the trained policy; and of a separate live reference that does not
   * sync.
   */
  private static Models frozenCopies(GraphScopes scopes, String p, Ops tf, Llama policy, boolean frozenBase,
      ReferenceBranch first) {
    List<Op> copies = new ArrayList<>();
    Llama base = policy.mirror(scopes, p + "/" + (frozenBase ? MIRRORED_BASE : MIRRORED_POLICY));
    copies.addAll(base.copyFrom(tf, policy));
    Llama reference = first.model();
    if (reference == policy) { // LoRA: the reference is the base with the starting adapter
      reference = base;
    } else if (reference != null && first.sync() == null) {
      reference = reference.mirror(scopes, p + "/" + MIRRORED_REFERENCE);
      copies.addAll(reference.copyFrom(tf, first.model()));
    }
    return new Models(base, reference, copies, !frozenBase);
  }

  /**
   * What follows the first replica's update for the others.
   *
   * @param applied the targets of the step's update: the first replica's, and each own update's (which
   *     applies it and resets that replica's accumulators)
   * @param momentCopies assignments of the first replica's AdamW moments to the replicas' own (run with
   *     the weight copies after a restore: a checkpoint holds the first replica's only)
   */
  record Updates(List<Op> applied, List<Op> momentCopies) {}

  /**
   * Whether replica {@code r} updates its own copy of the policy ({@link #afterUpdate}): it holds one, and
   * the optimizer is not sharded (then each owner updates the first replica's weights).
   */
  static boolean updatesItself(Replica r, boolean sharded) {
    return !sharded && r.policyCopy() != null;
  }

  /**
   * The replicas' part of the update when they hold copies of the trained policy ({@link
   * Replication#ownCopies}: tasks of a gRPC cluster, GPUs). Without a sharded optimizer, DDP's update:
   * every such replica applies AdamW to its copy with its own moments from its all-reduced gradient (its
   * accumulators keep the sum, {@link GradientAllReduce}), clipped by the first replica's norm
   * ({@link OptimizerUpdate#replica}); per step only the gradients cross between the replicas. Sharded,
   * the owners update the first replica's weights and the copies are refreshed from them ({@link
   * #refreshAfter}).
   *
   * @param applied the first replica's update and accumulator reset
   */
  static Updates afterUpdate(Graph graph, GraphScopes scopes, List<Replica> replicas, List<String> devices,
      boolean sharded, Op applied, Llama policy, OptimizerUpdate first, double maxGradNorm, AdamW.Hyper adam,
      Operand<TFloat32> scalars) {
    if (sharded) {
      Op refreshed = refreshAfter(graph, scopes, applied, policy, replicas, devices);
      return new Updates(List.of(refreshed == null ? applied : refreshed), List.of());
    }
    List<Op> applies = new ArrayList<>(List.of(applied));
    List<Op> momentCopies = new ArrayList<>();
    for (int k = 1; k < replicas.size(); k++) {
      if (!updatesItself(replicas.get(k), false)) {
        continue;
      }
      int mark = RequestedDevices.count(graph);
      String p = scope(k);
      Ops optOps = scopes.get(p + "/optimizer");
      GradientAccumulation gradients = replicas.get(k).gradients();
      OptimizerUpdate own = OptimizerUpdate.replica(optOps, scopes.get(p + "/" + OptimizerUpdate.SCOPES.get(0)),
          scopes.get(p + "/" + OptimizerUpdate.SCOPES.get(1)), ParameterSet.wholeModel(replicas.get(k).policyCopy()),
          gradients.combined(optOps), maxGradNorm, adam, scalars, first.gradNorm());
      applies.add(gradients.resetAfter(optOps, own.updates(), "apply"));
      Ops copyOps = scopes.get(p + "/" + MOMENT_COPIES);
      own.moments().forEach((key, m) -> momentCopies.add(copyOps.assign(m, first.moments().get(key))));
      RequestedDevices.placeUnplaced(graph, mark, devices.get(k));
    }
    return new Updates(applies, momentCopies);
  }

  /**
   * Assignments, after {@code update}, of the first replica's policy weights to each replica's copy
   * ({@link Replica#policyCopy}), each placed on its replica's device; null when no replica has one.
   */
  private static Op refreshAfter(Graph graph, GraphScopes scopes, Op update, Llama policy, List<Replica> replicas,
      List<String> devices) {
    List<Op> copies = new ArrayList<>();
    for (int k = 1; k < replicas.size(); k++) {
      Llama copy = replicas.get(k).policyCopy();
      if (copy != null) {
        int mark = RequestedDevices.count(graph);
        Ops tf = scopes.get(scope(k) + "/" + POLICY_REFRESH).withControlDependencies(List.of(update));
        copies.addAll(copy.copyFrom(tf, policy));
        RequestedDevices.placeUnplaced(graph, mark, devices.get(k));
      }
    }
    return copies.isEmpty() ? null : scopes.root().withControlDependencies(copies).withName("apply_and_refresh").noOp();
  }

  /** Which completion tokens a token-mean metric averages over. */
  enum Tokens { CHOSEN, REJECTED, ALL }

  /**
   * The metrics that are means over completion tokens rather than over pairs (TRL: token-weighted within
   * a micro-batch), and over which tokens.
   */
  static final Map<String, Tokens> TOKEN_MEANS = Map.of(
      "logits/chosen", Tokens.CHOSEN,
      "logits/rejected", Tokens.REJECTED,
      "entropy", Tokens.ALL,
      "mean_token_accuracy", Tokens.CHOSEN,
      "sft_loss", Tokens.CHOSEN);

  /**
   * Metrics that are a count of hits over pairs or tokens: recombined from the replicas' integer counts,
   * so the fraction is the one float division one device makes (no rounding of a weighted mean).
   */
  static final java.util.Set<String> HIT_FRACTIONS = java.util.Set.of("rewards/accuracies", "mean_token_accuracy");

  /**
   * The replicas' metrics as one device's on the whole micro-batch (gather, then mean): a pair mean is
   * weighted by the shard's pairs, a token mean ({@link #TOKEN_MEANS}) by the shard's completion tokens
   * it averages over. With equal shards the pair means are the plain mean across replicas.
   */
  static float[] gatherMean(List<String> names, List<float[]> perShard, List<Batch> shards) {
    if (perShard.size() == 1) {
      return perShard.get(0);
    }
    float[] out = new float[names.size()];
    for (int i = 0; i < out.length; i++) {
      Tokens tokens = TOKEN_MEANS.get(names.get(i));
      double[] weights = new double[shards.size()];
      double total = 0;
      for (int k = 0; k < weights.length; k++) {
        weights[k] = tokens == null ? shards.get(k).numPairs() : completionTokens(shards.get(k), tokens);
        total += weights[k];
      }
      double sum = 0;
      for (int k = 0; k < weights.length; k++) {
        sum += HIT_FRACTIONS.contains(names.get(i))
            ? Math.rint(perShard.get(k)[i] * weights[k]) // the shard's hit count, an integer
            : total == 0 ? 0 : weights[k] / total * perShard.get(k)[i];
      }
      out[i] = HIT_FRACTIONS.contains(names.get(i)) ? (float) sum / (float) total : (float) sum;
    }
    return out;
  }

  /** Counted predictions of the shard's chosen, rejected or all sequences (fillers, -1, count nowhere). */
  static long completionTokens(Batch b, Tokens which) {
    long n = 0;
    for (int s : b.lossSequences()) {
      boolean chosen = s >= 0 && s < b.numPairs();
      boolean rejected = s >= b.numPairs();
      n += switch (which) {
        case CHOSEN -> chosen ? 1 : 0;
        case REJECTED -> rejected ? 1 : 0;
        case ALL -> chosen || rejected ? 1 : 0;
      };
    }
    return n;
  }

  /**
   * Per-sequence values of the shards {@code [2P_k]} each (chosen then rejected) as one batch's
   * {@code [2P]}: every shard's chosen in shard order, then every shard's rejected.
   */
  static float[] chosenThenRejected(List<float[]> perShard, List<Batch> shards) {
    if (perShard.size() == 1) {
      return perShard.get(0);
    }
    int pairs = shards.stream().mapToInt(Batch::numPairs).sum();
    float[] out = new float[2 * pairs];
    int at = 0;
    for (int k = 0; k < perShard.size(); k++) {
      int p = shards.get(k).numPairs();
      System.arraycopy(perShard.get(k), 0, out, at, p);
      System.arraycopy(perShard.get(k), p, out, pairs + at, p);
      at += p;
    }
    return out;
  }
}
