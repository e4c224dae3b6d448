package dev.tfdpo.trainer;

import dev.tfdpo.graphs.GraphScopes;
import dev.tfdpo.graphs.Llama;
import dev.tfdpo.graphs.Tensors;
import dev.tfdpo.graphs.WeightLoader;
import dev.tfdpo.io.hf.LlamaConfig;
import dev.tfdpo.io.hf.LlamaWeights;
import dev.tfdpo.ops.AdamW;
import dev.tfdpo.ops.CompletionLogProbs;
import dev.tfdpo.ops.LossSpec;
import dev.tfdpo.ops.PairLogProbs;
import dev.tfdpo.ops.PreferenceObjective;
import dev.tfdpo.ops.Shapes;
import java.util.ArrayList;
import java.util.Collection;
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
import org.tensorflow.op.core.Gradients;
import org.tensorflow.op.core.Placeholder;
import org.tensorflow.op.core.Variable;
import org.tensorflow.proto.ConfigProto;
import org.tensorflow.proto.GraphOptions;
import org.tensorflow.proto.OptimizerOptions;
import org.tensorflow.proto.RewriterConfig;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt32;

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
public final class DpoGraph implements AutoCloseable {

  /**
   * TRL's 11 micro-batch metrics, first in the fetched metric vector; {@link #metricNames()} appends the
   * loss's own ({@link LossSpec#metricNames()}).
   */
  public static final List<String> BASE_METRICS =
      List.of(
          "loss",
          "rewards/chosen",
          "rewards/rejected",
          "rewards/accuracies",
          "rewards/margins",
          "logps/chosen",
          "logps/rejected",
          "logits/chosen",
          "logits/rejected",
          "entropy",
          "mean_token_accuracy");

  /** torch's {@code clip_grad_norm_} adds this to the norm before dividing. */
  static final float CLIP_EPSILON = 1e-6f;

  /**
   * Everything that shapes the graph.
   *
   * @param model architecture
   * @param loss loss types, weights and parameters
   * @param adam AdamW betas and epsilon
   * @param maxGradNorm global-norm clipping threshold; 0 or less disables clipping
   * @param threads intra- and inter-op threads (0 = TensorFlow's default)
   * @param reference where the reference log-probs come from
   * @param useXla compile the graph with XLA's JIT ({@link Xla})
   */
  public record Settings(
      LlamaConfig model,
      LossSpec loss,
      AdamW.Hyper adam,
      double maxGradNorm,
      int threads,
      Reference reference,
      boolean useXla) {

    /** A live, never-synced reference with the policy's architecture, without XLA. */
    public Settings(LlamaConfig model, LossSpec loss, AdamW.Hyper adam, double maxGradNorm, int threads) {
      this(model, loss, adam, maxGradNorm, threads, Reference.live(model), false);
    }

    /** Without XLA. */
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
  public record MicroResult(List<String> names, float[] metrics, float[] policyLogps, float[] referenceLogps) {

    /** A metric by its name; unknown names are an error. */
    public float metric(String name) {
      int k = names.indexOf(name);
      if (k < 0) {
        throw new IllegalArgumentException("no metric '" + name + "'; have " + names);
      }
      return metrics[k];
    }
  }

  private final Graph graph;
  private final Session session;
  private final Llama policy;
  private final WeightLoader policyLoader;
  private final ReferenceMode referenceMode;
  private final WeightLoader referenceLoader;
  private final Placeholder<TFloat32> fedReference;
  private final Op syncReference;
  private final BatchInputs inputs;
  private final Placeholder<TFloat32> gradScale;
  private final Placeholder<TFloat32> optimizerScalars;
  private final Operand<TFloat32> metrics;
  private final Operand<TFloat32> policyLogps;
  private final Operand<TFloat32> referenceLogps;
  private final Op accumulate;
  private final Op apply;
  private final Operand<TFloat32> gradNorm;
  private final Operand<TFloat32> gradNorms;
  private final Map<String, Variable<TFloat32>> accumulators = new LinkedHashMap<>();
  private final List<String> metricNames;
  private final StateCheckpoint checkpoint;
  private final boolean referenceSynced;

  private DpoGraph(Settings s) {
    graph = new Graph();
    Ops tf = GraphScopes.root(graph);
    GraphScopes scopes = GraphScopes.of(tf).reserve(scopeNames(s.reference()));
    LlamaConfig c = s.model();

    inputs = new BatchInputs(tf);
    gradScale = tf.withName("grad_scale").placeholder(TFloat32.class, Placeholder.shape(Shape.scalar())); // []
    optimizerScalars = tf.withName("optimizer_scalars").placeholder(TFloat32.class, Placeholder.shape(Shape.of(AdamW.SCALARS))); // [3]

    policy = Llama.create(scopes, c, "policy");
    policyLoader = WeightLoader.create(scopes, policy);
    Ops fwd = scopes.get("forward");
    CompletionLogProbs.Result pol = inputs.logProbs(fwd, policy); // [S] each
    policyLogps = pol.logps();

    Ops lossOps = scopes.get("loss");
    LossSpec spec = s.loss();
    Halves halves = new Halves(lossOps, inputs.numPairs());
    Operand<TFloat32> policySeq = pol.ldWeightedLogps(lossOps, spec.ldAlpha()); // [S]

    // Zeros and ones are shaped from the token counts, which do not depend on the weights: OnesLike has
    // no gradient and must stay off the policy's path.
    Reference r = s.reference();
    referenceMode = r.mode();
    Operand<TFloat32> referenceSeq; // [S]
    // A reference that syncs with the policy is training state: it goes into checkpoints.
    Map<String, Variable<TFloat32>> mutableReference = Map.of();
    if (r.mode() == ReferenceMode.LIVE) {
      Llama reference = Llama.create(scopes, r.model(), "reference");
      if (r.syncAlpha() > 0) {
        mutableReference = reference.variables();
      }
      referenceLoader = WeightLoader.create(scopes, reference);
      CompletionLogProbs.Result ref = inputs.logProbs(scopes.get("reference_forward"), reference); // [S] each
      referenceLogps = tf.stopGradient(ref.logps());
      // A live reference with a loss that never reads it still feeds zeros, so metrics match NONE.
      referenceSeq = spec.referenceFree()
          ? lossOps.zerosLike(pol.tokens())
          : lossOps.stopGradient(ref.ldWeightedLogps(lossOps, spec.ldAlpha()));
      syncReference = r.syncAlpha() > 0 ? syncOp(scopes.get("reference_sync"), policy, reference, r.syncAlpha()) : null;
      fedReference = null;
    } else if (r.mode() == ReferenceMode.FED) {
      fedReference = tf.withName("reference_logps")
          .placeholder(TFloat32.class, Placeholder.shape(Shape.of(Shape.UNKNOWN_SIZE))); // [S]
      referenceLogps = fedReference;
      referenceSeq = spec.referenceFree() ? lossOps.zerosLike(pol.tokens()) : fedReference;
      referenceLoader = null;
      syncReference = null;
    } else {
      referenceLogps = null;
      referenceSeq = lossOps.zerosLike(pol.tokens());
      referenceLoader = null;
      fedReference = null;
      syncReference = null;
    }
    Operand<TFloat32> sequenceWeights =
        spec.useWeighting() ? pol.wpoWeights(lossOps) : lossOps.onesLike(pol.tokens()); // [S]
    PairLogProbs pairs =
        new PairLogProbs(
            halves.chosen(policySeq), halves.rejected(policySeq),
            halves.chosen(referenceSeq), halves.rejected(referenceSeq),
            halves.chosen(pol.tokens()), halves.rejected(pol.tokens()),
            halves.chosen(policyLogps),
            lossOps.math.mul(halves.chosen(sequenceWeights), halves.rejected(sequenceWeights))); // [P] each
    PreferenceObjective.Terms terms = PreferenceObjective.build(lossOps, spec, pairs);
    Operand<TFloat32> loss = terms.total(); // []
    metricNames = List.copyOf(concat(BASE_METRICS, terms.metrics().keySet()));
    metrics = microMetrics(lossOps, loss, pairs, pol, halves, spec.beta(), terms.metrics().values()); // [K]

    LlamaWeights weightTable = LlamaWeights.of(c);
    List<Operand<TFloat32>> params = new ArrayList<>(policy.reads().values());
    Gradients grads = tf.gradients(loss, params);
    Ops optOps = scopes.get("optimizer");
    Ops accOps = scopes.get("optimizer/grad_accum");
    List<Op> adds = new ArrayList<>();
    List<Op> updates = new ArrayList<>();
    List<Operand<TFloat32>> norms = new ArrayList<>();
    Map<String, Operand<TFloat32>> accumulated = new LinkedHashMap<>();
    int i = 0;
    for (Map.Entry<String, Variable<TFloat32>> e : policy.variables().entrySet()) {
      String name = e.getKey();
      Shape shape = Shape.of(weightTable.entry(name).shape());
      Variable<TFloat32> acc = zeros(accOps, name, shape);
      accumulators.put(name, acc);
      Operand<TFloat32> g = grads.<TFloat32>dy(i++);
      adds.add(optOps.assignAdd(acc, optOps.math.mul(g, gradScale)));
      Operand<TFloat32> accRead = optOps.identity(acc);
      accumulated.put(name, accRead);
      norms.add(optOps.math.sqrt(optOps.reduceSum(optOps.math.square(accRead), allAxes(optOps, shape))));
    }
    accumulate = optOps.withControlDependencies(adds).withName("accumulate").noOp();

    gradNorms = optOps.stack(norms); // [#params]
    gradNorm = optOps.math.sqrt(optOps.reduceSum(optOps.math.square(gradNorms), optOps.constant(0))); // []
    Operand<TFloat32> clipCoef = clipCoefficient(optOps, gradNorm, s.maxGradNorm()); // []
    Ops mOps = scopes.get("optimizer/adam_m");
    Ops vOps = scopes.get("optimizer/adam_v");
    Map<String, Variable<TFloat32>> moments = new LinkedHashMap<>();
    AdamW.Shared adamScalars = AdamW.shared(optOps, optimizerScalars, s.adam());
    for (Map.Entry<String, Variable<TFloat32>> e : policy.variables().entrySet()) {
      String name = e.getKey();
      LlamaWeights.Entry entry = weightTable.entry(name);
      Shape shape = Shape.of(entry.shape());
      Operand<TFloat32> clipped = optOps.math.mul(accumulated.get(name), clipCoef);
      Variable<TFloat32> m = zeros(mOps, name, shape);
      Variable<TFloat32> v = zeros(vOps, name, shape);
      moments.put("adam_m/" + name, m);
      moments.put("adam_v/" + name, v);
      updates.addAll(
          AdamW.update(optOps, e.getValue(), clipped, m, v, adamScalars, entry.kind().decays()));
    }
    // One op gathers the updates: every reset depending on each update directly gave #params^2 control
    // edges (half a million at 30 layers), which Grappler and the session walked at every new run.
    Op updated = optOps.withControlDependencies(updates).withName("updated").noOp();
    Ops afterUpdate = optOps.withControlDependencies(List.of(updated));
    List<Op> resets = new ArrayList<>();
    for (Variable<TFloat32> acc : accumulators.values()) {
      resets.add(afterUpdate.assign(acc, afterUpdate.zerosLike(acc)));
    }
    apply = optOps.withControlDependencies(resets).withName("apply").noOp();

    Map<String, Variable<TFloat32>> state = new LinkedHashMap<>();
    policy.variables().forEach((name, variable) -> state.put("policy/" + name, variable));
    state.putAll(moments);
    mutableReference.forEach((name, variable) -> state.put("reference/" + name, variable));
    checkpoint = new StateCheckpoint(scopes.get("checkpoint"), state);
    referenceSynced = !mutableReference.isEmpty();

    ConfigProto.Builder options = sessionConfig(s.threads()).toBuilder();
    if (s.useXla()) {
      Xla.configure(options);
    }
    session = new Session(graph, options.build());
  }

  /**
   * Every sub-scope the constructor uses, created before the graph grows ({@link GraphScopes}).
   */
  private static List<String> scopeNames(Reference r) {
    List<String> names = new ArrayList<>(Llama.scopeNames("policy"));
    if (r.mode() == ReferenceMode.LIVE) {
      names.addAll(Llama.scopeNames("reference"));
      names.addAll(List.of("reference_forward", "reference_sync"));
    }
    names.addAll(List.of("forward", "loss", "optimizer/grad_accum", "optimizer/adam_m", "optimizer/adam_v",
        "checkpoint"));
    return names;
  }

  /**
   * The session options of every graph that computes log-probs (this one and the forward-only
   * reference pass), so that the same weights on the same batch give bitwise the same numbers.
   */
  static ConfigProto sessionConfig(int threads) {
    ConfigProto.Builder config = ConfigProto.newBuilder();
    // Grappler's arithmetic optimizer rewrites the policy's forward ops (which feed the gradient)
    // differently from the reference's, so identical weights gave log-probs differing by 1e-4 and
    // step-1 rewards that were not exactly 0 (TRL's are). With it off both paths are bitwise equal.
    RewriterConfig rewrite = RewriterConfig.newBuilder()
        .setArithmeticOptimization(RewriterConfig.Toggle.OFF)
        // Grappler optimizes the whole graph again for every new feed/fetch set: on a 30-layer model that
        // was 42 CPU-seconds of step 1 (its three runs), for steady steps within noise of those without
        // it (README, "Start-up"). oneDNN's own graph rewrites are not Grappler passes and still run.
        .setDisableMetaOptimizer(true)
        .build();
    // The classic optimizer's constant folding ran thousands of small shape subgraphs for every new
    // feed/fetch set (about 20 CPU-seconds in the first run of a 30-layer graph).
    OptimizerOptions classic = OptimizerOptions.newBuilder().setOptLevel(OptimizerOptions.Level.L0).build();
    config.setGraphOptions(GraphOptions.newBuilder().setRewriteOptions(rewrite).setOptimizerOptions(classic));
    if (threads > 0) {
      config.setIntraOpParallelismThreads(threads).setInterOpParallelismThreads(threads);
    }
    return config.build();
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

  /** Where the reference log-probs come from. */
  public ReferenceMode referenceMode() {
    return referenceMode;
  }

  /** Loader of the live reference; there is none in the other modes. */
  public WeightLoader referenceLoader() {
    if (referenceLoader == null) {
      throw new IllegalStateException("the graph has no reference variables (reference mode " + referenceMode + ")");
    }
    return referenceLoader;
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
    if (syncReference == null) {
      throw new IllegalStateException("the graph was built without reference sync ops");
    }
    session.runner().addTarget(syncReference).run();
  }

  /**
   * Bytes held by the graph's variables: policy, gradient accumulators, Adam's m and v, and a live
   * reference (the training graph's share of peak memory that does not depend on the batch).
   */
  public long variableBytes() {
    long bytes = 0;
    for (Iterator<GraphOperation> it = graph.operations(); it.hasNext(); ) {
      GraphOperation op = it.next();
      if (op.type().equals("VariableV2")) {
        bytes += 4 * op.output(0).shape().size();
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

  private MicroResult run(Batch b, float scale, float[] referenceLogps, boolean accumulateGradients) {
    if ((referenceMode == ReferenceMode.FED) != (referenceLogps != null)) {
      throw new IllegalArgumentException(referenceMode == ReferenceMode.FED
          ? "reference mode FED: the reference log-probs of the batch must be given"
          : "reference mode " + referenceMode + " takes no fed reference log-probs");
    }
    if (referenceLogps != null && referenceLogps.length != 2 * b.numPairs()) {
      throw new IllegalArgumentException(
          referenceLogps.length + " reference log-probs for " + 2 * b.numPairs() + " sequences");
    }
    Session.Runner runner = session.runner();
    List<Tensor> fed = inputs.feed(runner, b);
    List<Tensor> own = new ArrayList<>(2);
    try {
      Tensor gs = TFloat32.scalarOf(scale);
      own.add(gs);
      runner.feed(gradScale, gs).fetch(metrics).fetch(policyLogps);
      if (referenceMode == ReferenceMode.FED) {
        Tensor ref = Tensors.floats(new long[] {referenceLogps.length}, referenceLogps);
        own.add(ref);
        runner.feed(fedReference, ref);
      } else if (referenceMode == ReferenceMode.LIVE) {
        runner.fetch(this.referenceLogps);
      }
      if (accumulateGradients) {
        runner.addTarget(accumulate);
      }
      try (var result = runner.run()) {
        float[] pol = Tensors.toFloats(result.get(1));
        float[] ref = switch (referenceMode) {
          case LIVE -> Tensors.toFloats(result.get(2));
          case FED -> referenceLogps.clone();
          case NONE -> new float[pol.length];
        };
        return new MicroResult(metricNames, Tensors.toFloats(result.get(0)), pol, ref);
      }
    } finally {
      BatchInputs.close(fed);
      BatchInputs.close(own);
    }
  }

  /** The accumulated gradient's global and per-parameter norms (one run; changes nothing). */
  public GradientNorm gradientNorm() {
    try (var result = session.runner().fetch(gradNorm).fetch(gradNorms).run()) {
      return new GradientNorm(
          Tensors.toFloats(result.get(0))[0], List.copyOf(accumulators.keySet()), Tensors.toFloats(result.get(1)));
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

  /**
   * Clips the accumulated gradient with the already computed {@code norm}, applies AdamW and clears the
   * accumulators. The norm is fed in place of its graph tensor, so it is not computed a second time.
   *
   * @param scalars per-step optimizer scalars from {@link AdamW#stepScalars}
   * @param norm {@link GradientNorm#total()} of the current accumulators
   */
  public void apply(float[] scalars, float norm) {
    try (Tensor sc = Tensors.floats(new long[] {scalars.length}, scalars);
        Tensor n = TFloat32.scalarOf(norm)) {
      session.runner().feed(optimizerScalars, sc).feed(gradNorm, n).addTarget(apply).run();
    }
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

  /** The accumulated gradients, by Hugging Face name (for tests and diagnostics). */
  public Map<String, float[]> accumulatedGradients() {
    Session.Runner runner = session.runner();
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
    return referenceSynced;
  }

  /** Restores what {@link #saveState} wrote; every saved tensor must be present with its shape. */
  public void restoreState(java.nio.file.Path prefix) {
    checkpoint.restore(session, prefix);
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

  /** Splits a {@code [2P]} per-sequence vector into its chosen and rejected halves. */
  private record Halves(Ops tf, Operand<TInt32> numPairs) {
    Operand<TFloat32> chosen(Operand<TFloat32> x) {
      return tf.slice(x, tf.constant(new int[] {0}), tf.reshape(numPairs, tf.constant(new int[] {1})));
    }

    Operand<TFloat32> rejected(Operand<TFloat32> x) {
      Operand<TInt32> start = tf.reshape(numPairs, tf.constant(new int[] {1}));
      return tf.slice(x, start, start);
    }
  }

  /** The micro-batch metrics, stacked in {@link #metricNames()} order: TRL's, then the loss's. */
  private static Operand<TFloat32> microMetrics(
      Ops tf,
      Operand<TFloat32> loss,
      PairLogProbs x,
      CompletionLogProbs.Result pol,
      Halves halves,
      float beta,
      Collection<Operand<TFloat32>> lossMetrics) {
    Operand<TInt32> axis = tf.constant(0);
    Operand<TFloat32> b = tf.constant(beta);
    Operand<TFloat32> chosenRewards = tf.math.mul(b, tf.math.sub(x.policyChosen(), x.refChosen())); // [P]
    Operand<TFloat32> rejectedRewards =
        tf.math.mul(b, tf.math.sub(x.policyRejected(), x.refRejected())); // [P]
    Operand<TFloat32> wins =
        tf.dtypes.cast(tf.math.greater(chosenRewards, rejectedRewards), TFloat32.class); // [P]
    Operand<TFloat32> chosenTokens = tf.reduceSum(halves.chosen(pol.tokens()), axis); // []
    Operand<TFloat32> rejectedTokens = tf.reduceSum(halves.rejected(pol.tokens()), axis); // []
    Operand<TFloat32> allTokens = tf.math.add(chosenTokens, rejectedTokens); // []
    List<Operand<TFloat32>> values =
        concat(List.of(
            tf.stopGradient(loss),
            tf.math.mean(chosenRewards, axis),
            tf.math.mean(rejectedRewards, axis),
            tf.math.mean(wins, axis),
            tf.math.mean(tf.math.sub(chosenRewards, rejectedRewards), axis),
            tf.math.mean(x.policyChosen(), axis),
            tf.math.mean(x.policyRejected(), axis),
            tf.math.div(tf.reduceSum(halves.chosen(pol.meanLogitSum()), axis), chosenTokens),
            tf.math.div(tf.reduceSum(halves.rejected(pol.meanLogitSum()), axis), rejectedTokens),
            tf.math.div(tf.reduceSum(pol.entropySum(), axis), allTokens),
            tf.math.div(tf.reduceSum(halves.chosen(pol.argmaxHits()), axis), chosenTokens)),
            lossMetrics);
    return tf.stopGradient(tf.stack(values));
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

  private static <T> List<T> concat(Collection<? extends T> first, Collection<? extends T> second) {
    List<T> all = new ArrayList<>(first);
    all.addAll(second);
    return all;
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

  private static Variable<TFloat32> zeros(Ops tf, String name, Shape shape) {
    Operand<TFloat32> init = Shapes.zeros(tf, tf.constant(shape.asArray()), TFloat32.class); // shape
    return tf.withName(name).variable(init);
  }

  /** Every axis of a tensor of static {@code shape}, as one constant. */
  private static Operand<TInt32> allAxes(Ops tf, Shape shape) {
    int[] axes = new int[shape.numDimensions()];
    for (int k = 0; k < axes.length; k++) {
      axes[k] = k;
    }
    return tf.constant(axes); // [rank]
  }
}
