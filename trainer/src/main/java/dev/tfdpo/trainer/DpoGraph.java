package dev.tfdpo.trainer;

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
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.tensorflow.Graph;
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
import org.tensorflow.proto.RewriterConfig;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt32;

/**
 * The whole DPO training graph, built once: policy and frozen reference forward passes over the fused
 * chosen+rejected micro-batch, the preference loss, gradient accumulation, global-norm clipping and
 * AdamW.
 *
 * <p>A training step is {@code gradient_accumulation_steps} runs of {@link #micro} (forward, backward,
 * add {@code grad * scale} into the accumulators) and one run of {@link #apply} (clip, update, zero the
 * accumulators). Both runs have a fixed set of feeds, fetches and targets, so TensorFlow builds each
 * executor once. The reference has no gradient, no optimizer state and is never assigned after loading.
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
   * @param useXla compile the graph with XLA's JIT ({@link Xla})
   */
  public record Settings(
      LlamaConfig model,
      LossSpec loss,
      AdamW.Hyper adam,
      double maxGradNorm,
      int threads,
      boolean useXla) {

    /** Settings without XLA. */
    public Settings(LlamaConfig model, LossSpec loss, AdamW.Hyper adam, double maxGradNorm, int threads) {
      this(model, loss, adam, maxGradNorm, threads, false);
    }
  }

  /**
   * What one micro-batch run returns.
   *
   * @param names metric names, {@link #metricNames()}
   * @param metrics their values
   * @param policyLogps plain summed policy log-probs per sequence {@code [2P]}
   * @param referenceLogps same for the reference
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
  private final WeightLoader referenceLoader;
  private final BatchInputs inputs;
  private final Placeholder<TFloat32> gradScale;
  private final Placeholder<TFloat32> optimizerScalars;
  private final Operand<TFloat32> metrics;
  private final Operand<TFloat32> policyLogps;
  private final Operand<TFloat32> referenceLogps;
  private final Op accumulate;
  private final Op apply;
  private final Operand<TFloat32> gradNorm;
  private final Map<String, Variable<TFloat32>> accumulators = new LinkedHashMap<>();
  private final List<String> metricNames;

  private DpoGraph(Settings s) {
    graph = new Graph();
    Ops tf = Ops.create(graph);
    LlamaConfig c = s.model();

    inputs = new BatchInputs(tf);
    gradScale = tf.withName("grad_scale").placeholder(TFloat32.class, Placeholder.shape(Shape.scalar())); // []
    optimizerScalars = tf.withName("optimizer_scalars").placeholder(TFloat32.class, Placeholder.shape(Shape.of(AdamW.SCALARS))); // [3]

    policy = Llama.create(tf, c, "policy");
    Llama reference = Llama.create(tf, c, "reference");
    policyLoader = WeightLoader.create(tf, policy);
    referenceLoader = WeightLoader.create(tf, reference);

    Ops fwd = tf.withSubScope("forward");
    CompletionLogProbs.Result pol = inputs.logProbs(fwd, policy); // [S] each
    CompletionLogProbs.Result ref = inputs.logProbs(tf.withSubScope("reference_forward"), reference); // [S] each
    policyLogps = pol.logps();
    referenceLogps = tf.stopGradient(ref.logps());

    Ops lossOps = tf.withSubScope("loss");
    LossSpec spec = s.loss();
    Halves halves = new Halves(lossOps, inputs.numPairs());
    Operand<TFloat32> policySeq = pol.ldWeightedLogps(lossOps, spec.ldAlpha()); // [S]
    // Reference-free losses get zeros (the reference forward is still built; it will be skipped later).
    // Zeros and ones are shaped from the token counts, which do not depend on the weights: OnesLike has
    // no gradient and must stay off the policy's path.
    Operand<TFloat32> referenceSeq = spec.referenceFree()
        ? lossOps.zerosLike(pol.tokens())
        : lossOps.stopGradient(ref.ldWeightedLogps(lossOps, spec.ldAlpha())); // [S]
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
    Ops optOps = tf.withSubScope("optimizer");
    List<Op> adds = new ArrayList<>();
    List<Op> updates = new ArrayList<>();
    List<Operand<TFloat32>> norms = new ArrayList<>();
    Map<String, Operand<TFloat32>> accumulated = new LinkedHashMap<>();
    int i = 0;
    for (Map.Entry<String, Variable<TFloat32>> e : policy.variables().entrySet()) {
      String name = e.getKey();
      Shape shape = Shape.of(weightTable.entry(name).shape());
      Variable<TFloat32> acc = zeros(optOps.withSubScope("grad_accum"), name, shape);
      accumulators.put(name, acc);
      Operand<TFloat32> g = grads.<TFloat32>dy(i++);
      adds.add(optOps.assignAdd(acc, optOps.math.mul(g, gradScale)));
      Operand<TFloat32> accRead = optOps.identity(acc);
      accumulated.put(name, accRead);
      norms.add(optOps.math.sqrt(optOps.reduceSum(optOps.math.square(accRead), allAxes(optOps, accRead))));
    }
    accumulate = optOps.withControlDependencies(adds).withName("accumulate").noOp();

    Operand<TFloat32> normVector = optOps.stack(norms); // [#params]
    gradNorm = optOps.math.sqrt(optOps.reduceSum(optOps.math.square(normVector), optOps.constant(0))); // []
    Operand<TFloat32> clipCoef = clipCoefficient(optOps, gradNorm, s.maxGradNorm()); // []
    Ops mOps = optOps.withSubScope("adam_m");
    Ops vOps = optOps.withSubScope("adam_v");
    for (Map.Entry<String, Variable<TFloat32>> e : policy.variables().entrySet()) {
      String name = e.getKey();
      LlamaWeights.Entry entry = weightTable.entry(name);
      Shape shape = Shape.of(entry.shape());
      Operand<TFloat32> clipped = optOps.math.mul(accumulated.get(name), clipCoef);
      updates.addAll(
          AdamW.update(
              optOps, e.getValue(), clipped, zeros(mOps, name, shape), zeros(vOps, name, shape),
              optimizerScalars, s.adam(), entry.kind().decays()));
    }
    Ops afterUpdate = optOps.withControlDependencies(updates);
    List<Op> resets = new ArrayList<>();
    for (Variable<TFloat32> acc : accumulators.values()) {
      resets.add(afterUpdate.assign(acc, afterUpdate.zerosLike(acc)));
    }
    apply = optOps.withControlDependencies(resets).withName("apply").noOp();

    ConfigProto.Builder config = ConfigProto.newBuilder();
    // Grappler's arithmetic optimizer rewrites the policy's forward ops (which feed the gradient)
    // differently from the reference's, so identical weights gave log-probs differing by 1e-4 and
    // step-1 rewards that were not exactly 0 (TRL's are). With it off both paths are bitwise equal.
    RewriterConfig rewrite =
        RewriterConfig.newBuilder().setArithmeticOptimization(RewriterConfig.Toggle.OFF).build();
    config.setGraphOptions(GraphOptions.newBuilder().setRewriteOptions(rewrite));
    if (s.threads() > 0) {
      config.setIntraOpParallelismThreads(s.threads()).setInterOpParallelismThreads(s.threads());
    }
    if (s.useXla()) {
      Xla.configure(config);
    }
    session = new Session(graph, config.build());
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

  /** Loader of the frozen reference. */
  public WeightLoader referenceLoader() {
    return referenceLoader;
  }

  /** The session (for loading weights). */
  public Session session() {
    return session;
  }

  /**
   * Forward and backward on one micro-batch; adds {@code gradient * gradScale} to the accumulators.
   */
  public MicroResult micro(Batch b, float scale) {
    Session.Runner runner = session.runner();
    List<Tensor> fed = inputs.feed(runner, b);
    try (Tensor gs = TFloat32.scalarOf(scale);
        var result =
            runner.feed(gradScale, gs)
                .fetch(metrics).fetch(policyLogps).fetch(referenceLogps)
                .addTarget(accumulate)
                .run()) {
      return new MicroResult(
          metricNames,
          Tensors.toFloats(result.get(0)), Tensors.toFloats(result.get(1)), Tensors.toFloats(result.get(2)));
    } finally {
      BatchInputs.close(fed);
    }
  }

  /**
   * Clips the accumulated gradient, applies AdamW and clears the accumulators.
   *
   * @param scalars per-step optimizer scalars from {@link AdamW#stepScalars}
   * @return the global gradient norm before clipping
   */
  public float apply(float[] scalars) {
    try (Tensor sc = Tensors.floats(new long[] {scalars.length}, scalars);
        var result = session.runner().feed(optimizerScalars, sc).fetch(gradNorm).addTarget(apply).run()) {
      return Tensors.toFloats(result.get(0))[0];
    }
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

  private static Variable<TFloat32> zeros(Ops tf, String name, Shape shape) {
    Operand<TFloat32> init = tf.zeros(tf.constant(shape.asArray()), TFloat32.class);
    return tf.withName(name).variable(init);
  }

  private static Operand<TInt32> allAxes(Ops tf, Operand<?> x) {
    Operand<TInt32> rank = tf.rank(x);
    return tf.range(tf.constant(0), rank, tf.constant(1));
  }
}
