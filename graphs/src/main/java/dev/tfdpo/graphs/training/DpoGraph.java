package dev.tfdpo.graphs.training;

import dev.tfdpo.graphs.GraphScopes;
import dev.tfdpo.graphs.GrpcCluster;
import dev.tfdpo.graphs.Llama;
import dev.tfdpo.graphs.Recompute;
import dev.tfdpo.graphs.LoraAdapters;
import dev.tfdpo.graphs.RequestedDevices;
import dev.tfdpo.graphs.Sessions;
import dev.tfdpo.graphs.Tensors;
import dev.tfdpo.graphs.WeightLoader;
import dev.tfdpo.io.hf.LlamaConfig;
import dev.tfdpo.ops.AdamW;
import dev.tfdpo.ops.CompletionLogProbs;
import dev.tfdpo.ops.LossSpec;
import dev.tfdpo.ops.LowRank;
import dev.tfdpo.ops.Precision;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.tensorflow.Graph;
import org.tensorflow.GraphOperation;
import org.tensorflow.Operand;
import org.tensorflow.Session;
import org.tensorflow.Tensor;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.op.Op;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Placeholder;
import org.tensorflow.op.core.Variable;
import org.tensorflow.proto.ConfigProto;
import org.tensorflow.proto.RunMetadata;
import org.tensorflow.proto.RunOptions;
import org.tensorflow.types.TFloat32;

/**
 * The whole DPO training graph, built once: the policy forward pass over the fused chosen+rejected
 * micro-batch, the reference log-probs (see {@link Reference}), the preference loss, gradient
 * accumulation, global-norm clipping and AdamW.
 *
 * <p>A training step is {@code gradient_accumulation_steps} runs of {@link #micro} (forward, backward,
 * add {@code grad * scale} into the accumulators), one run of {@link #gradientNorm} (the norms, checked
 * for finiteness by the caller before anything changes) and one run of {@link #apply(float[], float)}
 * (clip, update, zero the accumulators). Each run has a fixed set of feeds, fetches and targets, so
 * TensorFlow builds each executor once. A live reference has no gradient and no optimizer state; it
 * changes only through {@link #syncReference} (TR-DPO / {@code ref_model_update_steps}).
 */
public final class DpoGraph implements TrainingGraph<Batch> {

  /** TRL's 11 micro-batch metrics, first in {@link #metricNames()} ({@link DpoObjective#BASE_METRICS}). */
  public static final List<String> BASE_METRICS = DpoObjective.BASE_METRICS;

  /**
   * Everything that shapes the graph.
   *
   * @param model architecture
   * @param objective what the graph optimizes ({@link DpoObjective} for every DPO loss type)
   * @param adam AdamW betas and epsilon
   * @param maxGradNorm global-norm clipping threshold; 0 or less disables clipping
   * @param threads intra- and inter-op threads (0 = TensorFlow's default)
   * @param reference where the reference log-probs come from
   * @param useXla compile the graph with XLA's JIT ({@link Xla})
   * @param replication data-parallel replicas, one per device ({@link Replication#single()}: one, as before)
   * @param compute type of the matrix products of both forward passes and of the backward pass
   *     (BFLOAT16: bf16 O1); weights, gradients, optimizer state, softmax, sums and losses stay float32
   * @param referenceStorage type of a live frozen reference's variables (BFLOAT16: bf16 O2, half its
   *     memory); needs compute BFLOAT16 and a live reference that never syncs
   * @param lora LoRA adapters over a frozen base ({@link LoraTraining}); null trains every weight
   * @param recompute what the policy's backward pass recomputes from saved block inputs ({@link
   *     Recompute}); null: nothing, every activation is kept
   */
  public record Settings(
      LlamaConfig model,
      Objective objective,
      AdamW.Hyper adam,
      double maxGradNorm,
      int threads,
      Reference reference,
      boolean useXla,
      Replication replication,
      Precision compute,
      Precision referenceStorage,
      LoraTraining lora,
      Recompute.Granularity recompute,
      boolean fusedStep) {

    /** Checks the combination. */
    public Settings {
      if (useXla && replication.replicas() > 1) {
        throw new IllegalArgumentException("use_xla with several devices is not supported: the XLA CPU JIT "
            + "does not compile the replicas' collective ops; set use_xla false or use one device");
      }
      if (referenceStorage == Precision.BFLOAT16) {
        if (compute != Precision.BFLOAT16) {
          throw new IllegalArgumentException("a bfloat16-stored reference needs bfloat16 compute");
        }
        if (reference.mode() != ReferenceMode.LIVE || reference.syncAlpha() > 0) {
          throw new IllegalArgumentException("only a live, never-synced reference can be stored in bfloat16; "
              + "this one is " + (reference.mode() == ReferenceMode.LIVE ? "synced" : reference.mode()));
        }
      }
      if (fusedStep && replication.replicas() > 1) {
        throw new IllegalArgumentException("a fused step (no gradient accumulators) needs one replica: the "
            + "replicas' gradients are combined between their micro-batch runs and the update");
      }
      if (useXla && recompute != null) {
        throw new IllegalArgumentException("recompute (" + recompute.configName() + ") cannot be combined "
            + "with use_xla: XLA clusters the recomputed copy of a block together with its first forward "
            + "and may merge them, keeping the activations recompute exists to free; turn one of them off");
      }
      // A LoRA run's live reference is the policy's own base: there is no copy to store in bfloat16.
      if (lora != null && referenceStorage == Precision.BFLOAT16) {
        throw new IllegalArgumentException("LoRA with a bfloat16-stored reference (fp16_opt_level O2) is not "
            + "supported: the reference shares the policy's base; use O1");
      }
    }

    /** Replicas in the given precisions, without LoRA (every weight trained) and without recompute. */
    public Settings(LlamaConfig model, Objective objective, AdamW.Hyper adam, double maxGradNorm, int threads,
        Reference reference, boolean useXla, Replication replication, Precision compute,
        Precision referenceStorage) {
      this(model, objective, adam, maxGradNorm, threads, reference, useXla, replication, compute,
          referenceStorage, null);
    }

    /** One replica (no explicit device), float32 throughout. */
    public Settings(LlamaConfig model, Objective objective, AdamW.Hyper adam, double maxGradNorm, int threads,
        Reference reference, boolean useXla) {
      this(model, objective, adam, maxGradNorm, threads, reference, useXla, Replication.single(),
          Precision.FLOAT32, Precision.FLOAT32);
    }

    /** Replicas, float32 throughout. */
    public Settings(LlamaConfig model, Objective objective, AdamW.Hyper adam, double maxGradNorm, int threads,
        Reference reference, boolean useXla, Replication replication) {
      this(model, objective, adam, maxGradNorm, threads, reference, useXla, replication,
          Precision.FLOAT32, Precision.FLOAT32);
    }

    /** One replica (no explicit device) in the given precisions. */
    public Settings(LlamaConfig model, Objective objective, AdamW.Hyper adam, double maxGradNorm, int threads,
        Reference reference, boolean useXla, Precision compute, Precision referenceStorage) {
      this(model, objective, adam, maxGradNorm, threads, reference, useXla, Replication.single(),
          compute, referenceStorage);
    }

    /** Replicas in the given precisions with LoRA adapters ({@code null}: every weight trained), without recompute. */
    public Settings(LlamaConfig model, Objective objective, AdamW.Hyper adam, double maxGradNorm, int threads,
        Reference reference, boolean useXla, Replication replication, Precision compute,
        Precision referenceStorage, LoraTraining lora) {
      this(model, objective, adam, maxGradNorm, threads, reference, useXla, replication, compute,
          referenceStorage, lora, null);
    }

    /** Replicas in the given precisions with LoRA adapters ({@code null}: none) and {@code recompute} (null: none), accumulating. */
    public Settings(LlamaConfig model, Objective objective, AdamW.Hyper adam, double maxGradNorm, int threads,
        Reference reference, boolean useXla, Replication replication, Precision compute,
        Precision referenceStorage, LoraTraining lora, Recompute.Granularity recompute) {
      this(model, objective, adam, maxGradNorm, threads, reference, useXla, replication, compute,
          referenceStorage, lora, recompute, false);
    }

    /** The same settings with {@code recompute} (null: none). */
    public Settings withRecompute(Recompute.Granularity granularity) {
      return new Settings(model, objective, adam, maxGradNorm, threads, reference, useXla, replication, compute,
          referenceStorage, lora, granularity, fusedStep);
    }

    /** The same settings with LoRA adapters ({@code null}: full fine-tuning). */
    public Settings withLora(LoraTraining l) {
      return new Settings(model, objective, adam, maxGradNorm, threads, reference, useXla, replication, compute,
          referenceStorage, l, recompute, fusedStep);
    }

    /**
     * The same settings with {@code fused} steps: a step of one micro-batch computes the gradient and
     * applies the update in one session run ({@link #step}), without gradient accumulators (a model's
     * worth of variables less); {@link #micro} then is not available. One replica only.
     */
    public Settings withFusedStep(boolean fused) {
      return new Settings(model, objective, adam, maxGradNorm, threads, reference, useXla, replication, compute,
          referenceStorage, lora, recompute, fused);
    }

    /** DPO with {@code loss}. */
    public Settings(LlamaConfig model, LossSpec loss, AdamW.Hyper adam, double maxGradNorm, int threads,
        Reference reference, boolean useXla) {
      this(model, new DpoObjective(loss), adam, maxGradNorm, threads, reference, useXla);
    }

    /** DPO with {@code loss}, a live never-synced reference with the policy's architecture, without XLA. */
    public Settings(LlamaConfig model, LossSpec loss, AdamW.Hyper adam, double maxGradNorm, int threads) {
      this(model, loss, adam, maxGradNorm, threads, Reference.live(model), false);
    }

    /** DPO with {@code loss}, without XLA. */
    public Settings(
        LlamaConfig model, LossSpec loss, AdamW.Hyper adam, double maxGradNorm, int threads, Reference reference) {
      this(model, loss, adam, maxGradNorm, threads, reference, false);
    }
  }

  /** How the training graph gets the reference's per-sequence log-probs. */
  public enum ReferenceMode {
    /** Reference variables in the graph, loaded by {@link #referenceLoader()}, forward without gradient. */
    LIVE,
    /**
     * Fed per micro-batch as a float {@code [S]} (the LD-weighted sums the loss reads), precomputed by a
     * separate forward-only graph: the training graph holds no reference variables.
     */
    FED,
    /** Reference-free: zeros, no reference forward and no reference variables. */
    NONE
  }

  /**
   * The reference side of the graph.
   *
   * @param mode where its log-probs come from
   * @param model its architecture (LIVE only; may differ from the policy's when it does not sync)
   * @param syncAlpha LIVE only: when positive, {@link #syncReference} sets {@code reference := a *
   *     policy + (1 - a) * reference} (1 = plain copy); 0 = the reference never changes
   */
  public record Reference(ReferenceMode mode, LlamaConfig model, double syncAlpha) {

    /** Checks the combination. */
    public Reference {
      if (mode == ReferenceMode.LIVE && model == null) {
        throw new IllegalArgumentException("a live reference needs its architecture");
      }
      if (!(syncAlpha >= 0 && syncAlpha <= 1)) {
        throw new IllegalArgumentException("syncAlpha must be in [0, 1], got " + syncAlpha);
      }
      if (syncAlpha > 0 && mode != ReferenceMode.LIVE) {
        throw new IllegalArgumentException("only a live reference can be synced with the policy");
      }
    }

    /** A frozen live reference. */
    public static Reference live(LlamaConfig model) {
      return new Reference(ReferenceMode.LIVE, model, 0);
    }

    /** A live reference that {@link #syncReference} mixes towards the policy with weight {@code alpha}. */
    public static Reference synced(LlamaConfig model, double alpha) {
      return new Reference(ReferenceMode.LIVE, model, alpha);
    }

    /** Reference log-probs fed per micro-batch. */
    public static Reference fed() {
      return new Reference(ReferenceMode.FED, null, 0);
    }

    /** Reference-free. */
    public static Reference none() {
      return new Reference(ReferenceMode.NONE, null, 0);
    }
  }

  /**
   * The accumulated gradient's norms, before clipping.
   *
   * @param total global L2 norm (the logged {@code grad_norm})
   * @param names parameter names, Hugging Face spelling, in forward order
   * @param perParameter L2 norm of each parameter's accumulated gradient
   */
  public record GradientNorm(float total, List<String> names, float[] perParameter) {

    /** The first parameter (forward order) whose gradient norm is NaN or infinite, or null. */
    public String firstNonFinite() {
      for (int k = 0; k < perParameter.length; k++) {
        if (!Float.isFinite(perParameter[k])) {
          return names.get(k);
        }
      }
      return Float.isFinite(total) ? null : "(global norm)";
    }
  }

  /**
   * What one micro-batch run returns.
   *
   * @param names metric names, {@link #metricNames()}
   * @param metrics their values
   * @param policyLogps plain summed policy log-probs per sequence {@code [2P]}
   * @param referenceLogps same for a live reference; the fed values for a fed one (LD-weighted when
   *     {@code ld_alpha < 1}); zeros when reference-free
   */
  public record MicroResult(List<String> names, float[] metrics, float[] policyLogps, float[] referenceLogps)
      implements TrainingGraph.Micro {}

  private final Graph graph;
  private final Session session;
  private final BatchInputs inputs;
  private final Placeholder<TFloat32> gradScale;
  private final Placeholder<TFloat32> optimizerScalars;
  private final WeightLoader policyLoader;
  private final LoraAdapters policyAdapters;
  private final LoraAdapters referenceAdapters;
  private final Operand<TFloat32> policyLogps;
  private final ReferenceBranch reference;
  private final List<String> metricNames;
  /** The objective as the replicas share it ({@link Objective#replicated}). */
  private final Objective objective;
  private final Operand<TFloat32> metrics;
  private final GradientAccumulation gradients;
  private final Operand<TFloat32> gradNorm;
  private final Operand<TFloat32> gradNorms;
  private final Op apply;
  private final StateCheckpoint checkpoint;
  private final boolean useXla;
  /** Data-parallel replicas, the first made of the fields above; one without replication. */
  private final List<Replica> replicas = new ArrayList<>();
  /** Every replica's accumulate target. */
  private final Op accumulateAll;
  /** The once-per-step gradient all-reduce ({@link GradientAllReduce}); null with one replica. */
  private final Op allReduce;
  /** {@link #copyReferenceFromPolicy}'s op; null when the graph has none. */
  private final Op referenceFromPolicy;
  /** Fills the replicas' copies of weights from the first replica's ({@link Replication#ownCopies}); null: none. */
  private final Op mirrorCopies;
  /**
   * Fills the replicas' own AdamW moments from the first replica's (after a restore: both start at zero
   * and then take the same updates); null: none.
   */
  private final Op momentCopies;
  /** Whether {@link #mirrorCopies} has run since the graph was opened. */
  private boolean mirrorsFilled;
  /** Whether the first replica's moments were restored since {@link #momentCopies} last ran. */
  private boolean momentsRestored;
  /** Whether micro-batches were accumulated since the last all-reduce. */
  private boolean reducePending;
  /** Compiled cluster launches of the first training micro-batch; -1 until then or without XLA. */
  private int xlaClusters = -1;
  /** Where the step's runs are traced ({@code profile_step}); null: not traced. */
  private StepTrace trace;

  /**
   * The graph in named parts: inputs, the policy forward pass over its trainable {@link ParameterSet},
   * the reference branch, the objective, the gradient accumulation and the optimizer update (the replica
   * seam between them), the checkpointed state and the session.
   */
  private DpoGraph(Settings s) {
    graph = new Graph();
    Ops tf = GraphScopes.root(graph);
    Replication replication = s.replication();
    GraphScopes scopes = GraphScopes.of(tf).reserve(scopeNames(s.reference(), s.lora()))
        .reserve(DataParallel.scopeNames(replication.replicas()));
    // A LoRA run's head is frozen: the target logit as a row product spares the backward pass a [Nc, V] tensor.
    inputs = new BatchInputs(tf, s.lora() == null
        ? CompletionLogProbs.TargetLogit.FROM_LOGITS : CompletionLogProbs.TargetLogit.ROW_PRODUCT);
    gradScale = tf.withName("grad_scale").placeholder(TFloat32.class, Placeholder.shape(Shape.scalar())); // []
    optimizerScalars = tf.withName("optimizer_scalars").placeholder(TFloat32.class, Placeholder.shape(Shape.of(AdamW.SCALARS))); // [3]

    // bf16 O2: the policy reads its embedding rows in bfloat16, as the bfloat16-stored reference does.
    Llama policy = Llama.create(scopes, s.model(), "policy", Precision.FLOAT32, s.compute(),
        s.referenceStorage() == Precision.BFLOAT16, s.lora() == null ? null : s.lora().quantize());
    policyLoader = WeightLoader.create(scopes, policy);
    LoraTraining lora = s.lora();
    policyAdapters = lora == null ? null : LoraAdapters.create(scopes, s.model(), lora.spec(), LoraTraining.POLICY_SCOPE);
    ParameterSet trainable = lora == null
        ? ParameterSet.wholeModel(policy) : ParameterSet.adapters(policyAdapters, lora.plusScale());
    Ops lossOps = scopes.get("loss");
    objective = s.objective().replicated(replication);
    LoraAdapters[] startCopy = new LoraAdapters[1];
    reference = lora != null && s.reference().mode() == ReferenceMode.LIVE
        ? ReferenceBranch.sharedBase(scopes, lossOps, s.reference(), inputs, policy, lora, objective, startCopy)
        : ReferenceBranch.build(scopes, lossOps, s, inputs, policy, objective);
    referenceAdapters = startCopy[0];
    referenceFromPolicy = copiesPolicy(scopes, s, policy, reference);
    // A live reference's forward pass runs to its end before the policy's starts: run side by side, its
    // logits and layer temporaries added to the policy's activations at their peak.
    BatchInputs policyInputs = reference.mode() == ReferenceMode.LIVE ? inputs.after(tf, reference.logps()) : inputs;
    Recompute tape = s.recompute() == null ? null : new Recompute(s.recompute());
    Map<String, LowRank> adapterTerms = lora == null ? Map.of() : policyAdapters.byModule();
    CompletionLogProbs.Result pol = policyInputs.logProbs(scopes.get("forward"), policy, adapterTerms, tape); // [S] each
    policyLogps = pol.logps(); // [S]
    Operand<TFloat32> policyScores = objective.sequenceScores(lossOps, pol); // [S]
    Objective.Part part = objective.build(lossOps, inputs, pol, policyScores, reference.scores());
    metricNames = objective.metricNames();
    metrics = part.metrics(); // [K]

    Ops optOps = scopes.get("optimizer");
    gradients = s.fusedStep()
        ? GradientAccumulation.direct(tf, optOps, part.loss(), trainable, gradScale, tape)
        : GradientAccumulation.build(tf, optOps, scopes, part.loss(), trainable, gradScale, tape);
    replicas.add(new Replica(inputs, gradScale, policyLogps, reference, metrics, gradients, List.of(), null));
    addReplicas(s, scopes, policy, adapterTerms, trainable);
    accumulateAll = s.fusedStep() ? null : replicas.size() == 1 ? gradients.accumulate() : optOps.withControlDependencies(
        replicas.stream().map(r -> r.gradients().accumulate()).toList()).withName("accumulate_all").noOp();
    OptimizerSharding sharding = replication.shardOptimizer()
        ? OptimizerSharding.balanced(trainable, replication.devices()) : null;
    List<Boolean> ownUpdate = replicas.stream().map(r -> DataParallel.updatesItself(r, sharding != null)).toList();
    allReduce = replicas.size() == 1 ? null : GradientAllReduce.build(graph, DataParallel.allReduceScopes(scopes,
        replicas.size()), replicas.stream().map(Replica::gradients).toList(), trainable, replication, ownUpdate);
    // A fused step applies the update in the run that computes the gradient, so only if it is finite.
    Operand<TFloat32> gateLoss = s.fusedStep() ? optOps.gather(metrics, optOps.constant(0), optOps.constant(0)) : null; // []
    OptimizerUpdate update = OptimizerUpdate.build(optOps, scopes, trainable, gradients.combined(optOps),
        s.maxGradNorm(), s.adam(), optimizerScalars, sharding, gateLoss);
    gradNorm = update.gradNorm(); // []
    gradNorms = update.gradNorms(); // [#params]
    DataParallel.Updates own = DataParallel.afterUpdate(graph, scopes, replicas, replication.devices(),
        sharding != null, gradients.resetAfter(optOps, update.updates(), "apply"), policy, update, s.maxGradNorm(),
        s.adam(), optimizerScalars);
    apply = own.applied().size() == 1 ? own.applied().get(0)
        : tf.withControlDependencies(own.applied()).withName("apply_all").noOp();
    List<Op> copies = replicas.stream().flatMap(r -> r.mirrorCopies().stream()).toList();
    mirrorCopies = copies.isEmpty() ? null : tf.withControlDependencies(copies).withName("mirror_frozen").noOp();
    momentCopies = own.momentCopies().isEmpty() ? null
        : tf.withControlDependencies(own.momentCopies()).withName("mirror_moments").noOp();

    checkpoint = new StateCheckpoint(scopes.get("checkpoint"), trainingState(trainable, update, reference));
    useXla = s.useXla();
    session = placeAndOpen(graph, s, sharding, update, trainable);
  }

  /**
   * Data-parallel replicas 1 to N-1. Each reads the one shared base and (LoRA) the one set of adapters,
   * and records its own forward on its own tape (same granularity): its recomputed copies and block-wise
   * gradient calls are built inside {@link DataParallel#replica} and placed on its device.
   */
  private void addReplicas(Settings s, GraphScopes scopes, Llama policy, Map<String, LowRank> adapterTerms,
      ParameterSet trainable) {
    Replication replication = s.replication();
    for (int k = 1; k < replication.replicas(); k++) {
      replicas.add(DataParallel.replica(graph, scopes, k, replication.devices().get(k), objective, policy,
          adapterTerms, trainable, reference, s.recompute(), inputs.target(), replication.ownCopies(),
          replication.remote()));
    }
  }

  /** Places what is not placed yet (sharded moments' assignments, then the first device) and opens the session. */
  private static Session placeAndOpen(Graph graph, Settings s, OptimizerSharding sharding, OptimizerUpdate update,
      ParameterSet trainable) {
    Replication replication = s.replication();
    if (sharding != null) {
      sharding.colocateAssignments(graph, update.moments(), trainable.variables(), replication.devices().get(0));
    }
    if (!replication.devices().get(0).isEmpty()) {
      // Weights, optimizer, the first replica and everything else not placed yet: the first device.
      RequestedDevices.placeUnplaced(graph, 0, replication.devices().get(0));
    }
    return replication.remote()
        ? GrpcCluster.session(graph, replication.target(), sessionOptions(s)) // replicas on the cluster's tasks
        : new Session(graph, sessionOptions(s));
  }

  /**
   * Every sub-scope the parts use, created while the graph is empty ({@link GraphScopes}): a scope
   * created later walks every operation already there, and per variable that made building quadratic.
   */
  private static List<String> scopeNames(Reference r, LoraTraining lora) {
    List<String> names = new ArrayList<>(Llama.scopeNames("policy"));
    if (lora != null) {
      names.addAll(LoraAdapters.scopeNames(LoraTraining.POLICY_SCOPE));
    }
    names.addAll(List.of("forward", "loss"));
    names.addAll(ReferenceBranch.scopeNames(r, lora));
    names.add("optimizer");
    names.add(GradientAccumulation.SCOPE);
    names.addAll(OptimizerUpdate.SCOPES);
    names.add("checkpoint");
    return names;
  }

  /** What a checkpoint holds: the trained weights, Adam's moments, and a reference that changes. */
  private static Map<String, Variable<TFloat32>> trainingState(
      ParameterSet trainable, OptimizerUpdate update, ReferenceBranch reference) {
    Map<String, Variable<TFloat32>> state = new LinkedHashMap<>();
    trainable.variables().forEach((name, variable) -> state.put("policy/" + name, variable));
    state.putAll(update.moments());
    reference.mutable().forEach((name, variable) -> state.put("reference/" + name, variable));
    return state;
  }

  private static ConfigProto sessionOptions(Settings s) {
    ConfigProto.Builder options = Sessions.config(s.threads()).toBuilder();
    if (s.useXla()) {
      Xla.configure(options);
    }
    int cpus = s.replication().cpuDevices();
    if (cpus > 1) {
      options.putDeviceCount("CPU", cpus); // virtual CPU devices of this process, one per replica
    }
    return options.build();
  }

  /** Builds the graph and its session. */
  public static DpoGraph build(Settings settings) {
    return new DpoGraph(settings);
  }

  /** Names of the fetched micro-batch metrics: {@link #BASE_METRICS}, then the loss's own. */
  public List<String> metricNames() {
    return metricNames;
  }

  /** Loader of the trainable policy. */
  public WeightLoader policyLoader() {
    return policyLoader;
  }

  /** The trained LoRA adapters; null when every weight is trained. */
  public LoraAdapters policyAdapters() {
    return policyAdapters;
  }

  /** The live reference's frozen copy of the starting adapters; null when there is none. */
  public LoraAdapters referenceAdapters() {
    return referenceAdapters;
  }

  /**
   * Whether a live reference runs on the policy's own (frozen) base, as in a LoRA run: it has no weights
   * of its own to load.
   */
  public boolean referenceSharesBase() {
    return reference.mode() == ReferenceMode.LIVE && reference.loader() == null;
  }

  /** Where the reference log-probs come from. */
  public ReferenceMode referenceMode() {
    return reference.mode();
  }

  /** Loader of the live reference; there is none in the other modes. */
  public WeightLoader referenceLoader() {
    if (reference.loader() == null) {
      throw new IllegalStateException("the graph has no reference variables (reference mode " + reference.mode() + ")");
    }
    return reference.loader();
  }

  /**
   * {@code reference := policy}, in the graph: a live float32 reference of the policy's own layout starts
   * as the policy's starting weights without reading the model file a second time. False (nothing done)
   * when the graph has no such copy (other modes, a bfloat16-stored reference, a LoRA run's shared base,
   * another architecture): load the reference then.
   */
  public boolean copyReferenceFromPolicy() {
    if (referenceFromPolicy == null) {
      return false;
    }
    session.runner().addTarget(referenceFromPolicy).run();
    return true;
  }

  /** The op of {@link #copyReferenceFromPolicy}, or null when the reference cannot be a copy. */
  private static Op copiesPolicy(GraphScopes scopes, Settings s, Llama policy, ReferenceBranch reference) {
    Llama model = reference.model();
    boolean copyable = reference.mode() == ReferenceMode.LIVE && model != null && model != policy
        && s.referenceStorage() == Precision.FLOAT32 && s.lora() == null && model.config().equals(policy.config());
    if (!copyable) {
      return null;
    }
    Ops tf = scopes.get("reference_sync");
    return tf.withControlDependencies(model.copyFrom(tf, policy)).withName("from_policy").noOp();
  }

  /** Current live reference weights by Hugging Face name. */
  public Map<String, float[]> referenceWeights() {
    return referenceLoader().read(session);
  }

  /**
   * {@code reference := a * policy + (1 - a) * reference} for every weight (TR-DPO; a = 1 is
   * PaddleNLP's copy); the graph must have been built with {@link Reference#synced}.
   */
  public void syncReference() {
    if (reference.sync() == null) {
      throw new IllegalStateException("the graph was built without reference sync ops");
    }
    session.runner().addTarget(reference.sync()).run();
  }

  /**
   * Bytes held by the graph's variables: policy, gradient accumulators (unless fused), Adam's m and v, and a live
   * reference (the training graph's share of peak memory that does not depend on the batch).
   */
  public long variableBytes() {
    return variableBytes("");
  }

  /** {@link #variableBytes()} of the variables whose names start with {@code prefix} (e.g. {@code reference/}). */
  public long variableBytes(String prefix) {
    long bytes = 0;
    for (Iterator<GraphOperation> it = graph.operations(); it.hasNext(); ) {
      GraphOperation op = it.next();
      if (op.type().equals("VariableV2") && op.name().startsWith(prefix)) {
        bytes += Tensors.bytesPerElement(op.output(0).dataType()) * op.output(0).shape().size();
      }
    }
    return bytes;
  }

  /** Names of every variable in the graph (which weights and optimizer state it holds). */
  public List<String> variableNames() {
    List<String> names = new ArrayList<>();
    graph.operations().forEachRemaining(op -> {
      if (op.type().equals("VariableV2") || op.type().equals("VarHandleOp")) {
        names.add(op.name());
      }
    });
    return names;
  }

  /**
   * Values of the float32 variables whose names start with {@code prefix}, by the rest of the name (a
   * replica's copies against the first replica's: {@code replica_1/policy/} against {@code policy/}).
   */
  public Map<String, float[]> variableValues(String prefix) {
    List<String> names = variableNames().stream().filter(name -> name.startsWith(prefix)
        && graph.operation(name).output(0).dataType() == org.tensorflow.proto.DataType.DT_FLOAT).toList();
    if (names.isEmpty()) {
      return Map.of();
    }
    Session.Runner runner = session.runner();
    names.forEach(runner::fetch);
    Map<String, float[]> values = new LinkedHashMap<>();
    try (var result = runner.run()) {
      for (int i = 0; i < names.size(); i++) {
        values.put(names.get(i).substring(prefix.length()), Tensors.toFloats(result.get(i)));
      }
    }
    return values;
  }


  /** The session (for loading weights). */
  public Session session() {
    return session;
  }

  /**
   * Forward and backward on one micro-batch; adds {@code gradient * gradScale} to the accumulators.
   */
  public MicroResult micro(Batch b, float scale) {
    return micro(b, scale, null);
  }

  /**
   * Forward and backward on one micro-batch; adds {@code gradient * gradScale} to the accumulators.
   *
   * @param referenceLogps the reference's per-sequence log-probs {@code [2P]} in the batch's sequence
   *     order; required in FED mode, null otherwise
   */
  public MicroResult micro(Batch b, float scale, float[] referenceLogps) {
    return run(b, scale, referenceLogps, true);
  }

  /**
   * Forward and backward on one global micro-batch split into shards, shard k on replica k (as
   * accelerate splits a global batch across processes): the summed gradient equals one device's on the
   * whole micro-batch, each replica's weighted by its share of the pairs. Fewer shards than replicas is
   * allowed (the last global batch of an epoch): the idle replicas run on a copy of the first shard with
   * weight 0. The metrics are gathered, then averaged as one device averages them over the whole
   * micro-batch: pair means by pairs, token means by tokens ({@link Objective#gatherMetrics}; KTO: class
   * sums by class counts).
   *
   * @param referenceLogps per shard, as in {@link #micro(Batch, float, float[])}; null unless FED
   */
  public MicroResult micro(List<Batch> shards, float scale, List<float[]> referenceLogps) {
    return run(shards, scale, referenceLogps, true);
  }

  /**
   * A whole optimizer step on one micro-batch. Built with {@link Settings#withFusedStep}: forward,
   * backward, norms and the update in one session run, the update gated in the graph (it runs only when
   * the loss and every gradient norm are finite, as {@code NonFiniteStepException.Guard} checks them).
   * Otherwise {@link TrainingGraph#step}'s micro-batch, norm and apply.
   */
  @Override
  public Step step(List<Batch> shards, List<float[]> referenceLogps, float[] optimizerScalars) {
    if (!gradients.isDirect()) {
      return TrainingGraph.super.step(shards, referenceLogps, optimizerScalars);
    }
    Ran ran = run(shards, 1f, referenceLogps, true, optimizerScalars);
    return new Step(ran.micro(), ran.norm());
  }

  /** Whether each step is one fused run without gradient accumulators ({@link Settings#withFusedStep}). */
  public boolean fusesStep() {
    return gradients.isDirect();
  }

  /** Number of data-parallel replicas (1 without replication). */
  public int replicas() {
    return replicas.size();
  }

  @Override
  public boolean laysOutItself(int k) {
    return replicas.get(k).inputs().laidOutByItsTask();
  }

  private MicroResult run(Batch b, float scale, float[] referenceLogps, boolean accumulateGradients) {
    return run(List.of(b), scale, referenceLogps == null ? null : java.util.Collections.singletonList(referenceLogps),
        accumulateGradients);
  }

  private MicroResult run(List<Batch> shards, float scale, List<float[]> referenceLogps, boolean accumulateGradients) {
    return run(shards, scale, referenceLogps, accumulateGradients, null).micro();
  }

  /** What one run returns: the micro-batch's results, and a fused step's gradient norms (else null). */
  private record Ran(MicroResult micro, GradientNorm norm) {}

  /** {@code stepScalars}: a fused step's optimizer scalars (the norms are fetched too); null otherwise. */
  private Ran run(List<Batch> shards, float scale, List<float[]> referenceLogps, boolean accumulateGradients,
      float[] stepScalars) {
    ReferenceMode referenceMode = reference.mode();
    checkShards(shards, referenceLogps);
    if (!mirrorsFilled) {
      weightsLoaded();
    }
    int pairs = shards.stream().mapToInt(Batch::numPairs).sum();
    // Every replica runs, evaluation too: an objective may share a value across them (KTO's KL point),
    // and an idle replica (fewer shards) then runs on a copy of the first shard with weight 0.
    int fedReplicas = replicas.size();
    Session.Runner runner = session.runner();
    List<Tensor> fed = new ArrayList<>();
    try {
      for (int k = 0; k < fedReplicas; k++) {
        Replica r = replicas.get(k);
        boolean real = k < shards.size();
        Batch b = shards.get(real ? k : 0);
        fed.addAll(r.inputs().feed(runner, b));
        float weight = !real ? 0f : shards.size() == 1 ? scale : scale * b.numPairs() / pairs;
        Tensor gs = TFloat32.scalarOf(weight);
        fed.add(gs);
        runner.feed(r.gradScale(), gs).fetch(r.metrics()).fetch(r.policyLogps());
        if (referenceMode == ReferenceMode.FED) {
          float[] values = referenceLogps.get(real ? k : 0);
          Tensor ref = Tensors.floats(new long[] {values.length}, values);
          fed.add(ref);
          runner.feed(r.reference().fed(), ref);
        } else if (referenceMode == ReferenceMode.LIVE) {
          runner.fetch(r.reference().logps());
        }
      }
      Tensor scalarsFed = null;
      if (accumulateGradients && gradients.isDirect()) {
        if (stepScalars == null) {
          throw new IllegalStateException("this graph fuses each step (no accumulators): call step, not micro");
        }
        scalarsFed = Tensors.floats(new long[] {stepScalars.length}, stepScalars);
        fed.add(scalarsFed);
        runner.feed(optimizerScalars, scalarsFed).fetch(gradNorm).fetch(gradNorms).addTarget(apply);
      } else if (accumulateGradients) {
        runner.addTarget(accumulateAll);
        reducePending = true;
      }
      boolean checkXla = useXla && accumulateGradients && xlaClusters < 0;
      RunOptions options = checkXla ? RunOptions.newBuilder().setOutputPartitionGraphs(true).build() : null;
      try (var result = StepTrace.run(accumulateGradients ? trace : null, runner, options)) {
        if (checkXla) {
          checkCompiled(result.getMetadata().orElseThrow());
        }
        int stride = referenceMode == ReferenceMode.LIVE ? 3 : 2;
        GradientNorm norm = scalarsFed == null ? null // one replica: its fetches, then the two norms
            : new GradientNorm(Tensors.toFloats(result.get(stride))[0], gradients.names(),
                Tensors.toFloats(result.get(stride + 1)));
        List<float[]> metricParts = new ArrayList<>();
        List<float[]> pol = new ArrayList<>();
        List<float[]> ref = new ArrayList<>();
        for (int k = 0; k < shards.size(); k++) {
          metricParts.add(Tensors.toFloats(result.get(stride * k)));
          float[] p = Tensors.toFloats(result.get(stride * k + 1));
          pol.add(p);
          ref.add(switch (referenceMode) {
            case LIVE -> Tensors.toFloats(result.get(stride * k + 2));
            case FED -> referenceLogps.get(k).clone();
            case NONE -> new float[p.length];
          });
        }
        return new Ran(new MicroResult(metricNames, objective.gatherMetrics(metricParts, shards),
            DataParallel.chosenThenRejected(pol, shards), DataParallel.chosenThenRejected(ref, shards)), norm);
      }
    } finally {
      BatchInputs.close(fed);
    }
  }

  private void checkShards(List<Batch> shards, List<float[]> referenceLogps) {
    ReferenceMode referenceMode = reference.mode();
    if (shards.isEmpty() || shards.size() > replicas.size()) {
      throw new IllegalArgumentException(
          shards.size() + " micro-batch shard(s) for " + replicas.size() + " replica(s): give 1 to " + replicas.size());
    }
    if ((referenceMode == ReferenceMode.FED) != (referenceLogps != null)) {
      throw new IllegalArgumentException(referenceMode == ReferenceMode.FED
          ? "reference mode FED: the reference log-probs of the batch must be given"
          : "reference mode " + referenceMode + " takes no fed reference log-probs");
    }
    for (int k = 0; referenceLogps != null && k < shards.size(); k++) {
      float[] values = k < referenceLogps.size() ? referenceLogps.get(k) : null;
      if (values == null || values.length != 2 * shards.get(k).numPairs()) {
        throw new IllegalArgumentException((values == null ? "no" : String.valueOf(values.length))
            + " reference log-probs for " + 2 * shards.get(k).numPairs() + " sequences"
            + (shards.size() > 1 ? " (shard " + k + ")" : ""));
      }
    }
  }

  /**
   * {@code use_xla} must really compile: TensorFlow silently runs uncompiled when the process's CPU
   * clustering policy was fixed by an earlier session before {@link Xla#enableForProcess}.
   */
  private void checkCompiled(RunMetadata metadata) {
    xlaClusters = Xla.compiledClusters(metadata);
    if (xlaClusters == 0) {
      throw new IllegalStateException("use_xla is on but TensorFlow compiled no XLA cluster: a session was "
          + "created in this process before Xla.enableForProcess(); call it first, or set "
          + "TF_XLA_FLAGS=--tf_xla_cpu_global_jit before the JVM starts");
    }
  }

  /** Compiled XLA cluster launches in the first training micro-batch: -1 before it or without XLA. */
  public int xlaClusters() {
    return xlaClusters;
  }

  /** The accumulated gradient's global and per-parameter norms (one run; changes nothing). */
  public GradientNorm gradientNorm() {
    requireAccumulators();
    reduceAcrossReplicas();
    try (var result = StepTrace.run(trace, session.runner().fetch(gradNorm).fetch(gradNorms))) {
      return new GradientNorm(Tensors.toFloats(result.get(0))[0], gradients.names(), Tensors.toFloats(result.get(1)));
    }
  }

  /**
   * Forward only, for evaluation: the same metrics as {@link #micro} on {@code b}, with no backward
   * pass and no state change (the accumulate target is not run, so neither the gradients nor the
   * accumulators, weights or optimizer slots are touched). Not available with fed reference log-probs.
   */
  public MicroResult evaluate(Batch b) {
    return run(b, 1f, null, false);
  }

  /** {@link #evaluate(Batch)} of a global batch split into shards, shard k on replica k (at most one per replica). */
  public MicroResult evaluate(List<Batch> shards) {
    return run(shards, 1f, null, false);
  }

  /**
   * With several replicas, sums their accumulated gradients into the first replica's once per step
   * ({@link GradientAllReduce}); a no-op with one replica or when nothing was accumulated since. Running
   * it again changes nothing (the other replicas' accumulators are zero after it).
   */
  private void reduceAcrossReplicas() {
    if (allReduce != null && reducePending) {
      StepTrace.run(trace, session.runner().addTarget(allReduce)).close();
      reducePending = false;
    }
  }

  /**
   * Clips the accumulated gradient with the already computed {@code norm}, applies AdamW and clears the
   * accumulators. The norm is fed in place of its graph tensor, so it is not computed a second time.
   *
   * @param scalars per-step optimizer scalars from {@link AdamW#stepScalars}
   * @param norm {@link GradientNorm#total()} of the current accumulators
   */
  public void apply(float[] scalars, float norm) {
    requireAccumulators();
    reduceAcrossReplicas();
    try (Tensor sc = Tensors.floats(new long[] {scalars.length}, scalars);
        Tensor n = TFloat32.scalarOf(norm)) {
      StepTrace.run(trace, session.runner().feed(optimizerScalars, sc).feed(gradNorm, n).addTarget(apply)).close();
    }
  }

  @Override
  public void trace(StepTrace trace) {
    this.trace = trace;
  }

  /**
   * Copies the weights the other tasks' replicas read there ({@link DataParallel#replica}: a LoRA run's
   * base, a live reference that does not sync, a fully trained policy) from the first replica's; nothing
   * when no replica has a copy. Call after the weights are loaded; the first micro-batch run does it if
   * nobody did (and after a restore, with the replicas' own AdamW moments). Each update keeps the policy
   * copies equal to the first replica's itself.
   */
  @Override
  public void weightsLoaded() {
    if (mirrorCopies != null) {
      Session.Runner runner = session.runner().addTarget(mirrorCopies);
      if (momentsRestored && momentCopies != null) {
        runner.addTarget(momentCopies);
      }
      runner.run();
      mirrorsFilled = true;
      momentsRestored = false;
    }
  }

  /**
   * Bytes of the other replicas' copies of weights ({@link #weightsLoaded}) and of their own AdamW
   * moments ({@link DataParallel#afterUpdate}), all tasks together.
   */
  public long mirroredVariableBytes() {
    long bytes = 0;
    for (int k = 1; k < replicas.size(); k++) {
      String p = DataParallel.scope(k) + "/";
      bytes += variableBytes(p + DataParallel.MIRRORED_BASE + "/") + variableBytes(p + DataParallel.MIRRORED_REFERENCE + "/")
          + variableBytes(p + DataParallel.MIRRORED_POLICY + "/") + variableBytes(p + OptimizerUpdate.SCOPES.get(0) + "/")
          + variableBytes(p + OptimizerUpdate.SCOPES.get(1) + "/");
    }
    return bytes;
  }

  /**
   * {@link #gradientNorm()} then {@link #apply(float[], float)}, without a finiteness check.
   *
   * @return the global gradient norm before clipping
   */
  public float apply(float[] scalars) {
    float norm = gradientNorm().total();
    apply(scalars, norm);
    return norm;
  }

  private void requireAccumulators() {
    if (gradients.isDirect()) {
      throw new IllegalStateException("this graph fuses each step (no gradient accumulators): use step");
    }
  }

  /** The accumulated gradients, summed across replicas, by Hugging Face name (for tests and diagnostics). */
  public Map<String, float[]> accumulatedGradients() {
    requireAccumulators();
    reduceAcrossReplicas();
    Session.Runner runner = session.runner();
    Map<String, Variable<TFloat32>> accumulators = gradients.accumulators();
    List<String> names = new ArrayList<>(accumulators.keySet());
    names.forEach(n -> runner.fetch(accumulators.get(n)));
    Map<String, float[]> out = new LinkedHashMap<>();
    try (var result = runner.run()) {
      for (int k = 0; k < names.size(); k++) {
        out.put(names.get(k), Tensors.toFloats(result.get(k)));
      }
    }
    return out;
  }

  /**
   * Writes the graph's training state (policy weights, AdamW moments) as a TensorFlow checkpoint
   * ({@code prefix.index} + {@code prefix.data-00000-of-00001}). Call it between steps, when the
   * gradient accumulators are zero: they are not saved.
   */
  public void saveState(java.nio.file.Path prefix) {
    checkpoint.save(session, prefix);
  }

  /** Whether the reference changes during training (and so is part of {@link #saveState}). */
  public boolean referenceSynced() {
    return !reference.mutable().isEmpty();
  }

  /** Restores what {@link #saveState} wrote; every saved tensor must be present with its shape. */
  public void restoreState(java.nio.file.Path prefix) {
    checkpoint.restore(session, prefix);
    mirrorsFilled = false; // the replicas' policy copies (and own moments) are refreshed before the next run
    momentsRestored = true;
  }

  /**
   * The policy's weights as tensors streamed one at a time when written ({@link WeightLoader#sources}):
   * what checkpoints and exports write, without a {@code float[]} copy of the model.
   */
  public List<dev.tfdpo.io.safetensors.TensorSource> policySources() {
    return policyLoader.sources(session);
  }

  /** The live reference's weights, streamed like {@link #policySources()}. */
  public List<dev.tfdpo.io.safetensors.TensorSource> referenceSources() {
    return referenceLoader().sources(session);
  }

  /** Current policy weights by Hugging Face name. */
  public Map<String, float[]> policyWeights() {
    return policyLoader.read(session);
  }

  @Override
  public void close() {
    session.close();
    graph.close();
  }
}
