package dev.tfdpo.graphs.training;

import dev.tfdpo.graphs.GraphScopes;
import dev.tfdpo.graphs.Llama;
import dev.tfdpo.graphs.Sessions;
import dev.tfdpo.graphs.Tensors;
import dev.tfdpo.graphs.WeightLoader;
import dev.tfdpo.io.hf.LlamaConfig;
import dev.tfdpo.io.hf.LlamaWeights;
import dev.tfdpo.io.hf.RewardModelExport;
import dev.tfdpo.io.safetensors.SafeTensorsReader;
import dev.tfdpo.ops.AdamW;
import dev.tfdpo.ops.Layers;
import dev.tfdpo.ops.RewardLoss;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import org.tensorflow.Graph;
import org.tensorflow.Operand;
import org.tensorflow.Session;
import org.tensorflow.Tensor;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.op.Op;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Placeholder;
import org.tensorflow.op.core.Variable;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt32;

/**
 * A reward model's training graph (TRL's {@code RewardTrainer}, ms-swift's {@code rlhf_type rm}): a Llama
 * backbone without its language-model head, a scalar head {@code score.weight [1, H]} (Hugging Face's
 * {@code LlamaForSequenceClassification}, no bias) read at each row's last non-pad token, {@link RewardLoss},
 * gradient accumulation, clipping and AdamW. The gradient and update parts are the DPO graph's own
 * ({@link GradientAccumulation}, {@link OptimizerUpdate}) over a {@link ParameterSet} of backbone + head.
 *
 * <p>The backbone is built from the architecture with tied embeddings, so no {@code lm_head.weight}
 * variable exists: a causal-LM checkpoint's head is skipped when loading and never trained or saved.
 */
public final class RewardGraph implements TrainingGraph<RewardBatch> {

  /** Hugging Face name of the head. */
  public static final String SCORE = RewardModelExport.SCORE;

  /** transformers' {@code initializer_range} default, for a config.json without the key. */
  public static final double DEFAULT_INITIALIZER_RANGE = 0.02;

  /**
   * Everything that shapes the graph.
   *
   * @param model the backbone's architecture (its {@code tie_word_embeddings} does not matter: no head)
   * @param centerRewardsCoefficient TRL's {@code center_rewards_coefficient}; 0 = off
   * @param adam AdamW betas and epsilon
   * @param maxGradNorm global-norm clipping; 0 or less disables it
   * @param threads intra- and inter-op threads (0 = TensorFlow's default)
   */
  public record Settings(
      LlamaConfig model, double centerRewardsCoefficient, AdamW.Hyper adam, double maxGradNorm, int threads) {}

  /**
   * One micro-batch's values.
   *
   * @param metrics {@link RewardLoss#METRICS}
   * @param scores the reward of each row {@code [2P]}, chosen first
   */
  public record MicroResult(float[] metrics, float[] scores) implements TrainingGraph.Micro {

    @Override
    public List<String> names() {
      return RewardLoss.METRICS;
    }
  }

  private final LlamaConfig backboneConfig;
  private final Graph graph;
  private final Session session;
  private final Placeholder<TInt32> inputIds;
  private final Placeholder<TInt32> lengths;
  private final Placeholder<TInt32> scoreIndices;
  private final Placeholder<TFloat32> margins;
  private final Placeholder<TFloat32> gradScale;
  private final Placeholder<TFloat32> optimizerScalars;
  private final Llama backbone;
  private final WeightLoader backboneLoader;
  private final Variable<TFloat32> score;
  private final Placeholder<TFloat32> scoreValue;
  private final Op scoreAssign;
  private final Operand<TFloat32> scores;
  private final Operand<TFloat32> metrics;
  private final GradientAccumulation gradients;
  private final Operand<TFloat32> gradNorm;
  private final Operand<TFloat32> gradNorms;
  private final Op apply;
  private final StateCheckpoint checkpoint;

  private RewardGraph(Settings s) {
    backboneConfig = RewardModelExport.backbone(s.model());
    graph = new Graph();
    Ops tf = GraphScopes.root(graph);
    List<String> scopeNames = new ArrayList<>(Llama.scopeNames("model"));
    scopeNames.addAll(List.of("score", "forward", "loss", "optimizer", GradientAccumulation.SCOPE));
    scopeNames.addAll(OptimizerUpdate.SCOPES);
    scopeNames.add("checkpoint");
    GraphScopes scopes = GraphScopes.of(tf).reserve(scopeNames);
    Shape rowsByLength = Shape.of(Shape.UNKNOWN_SIZE, Shape.UNKNOWN_SIZE);
    Shape vector = Shape.of(Shape.UNKNOWN_SIZE);
    inputIds = tf.withName("input_ids").placeholder(TInt32.class, Placeholder.shape(rowsByLength)); // [R, L]
    lengths = tf.withName("lengths").placeholder(TInt32.class, Placeholder.shape(vector)); // [R]
    scoreIndices = tf.withName("score_indices").placeholder(TInt32.class, Placeholder.shape(vector)); // [R]
    margins = tf.withName("margins").placeholder(TFloat32.class, Placeholder.shape(vector)); // [P]
    gradScale = tf.withName("grad_scale").placeholder(TFloat32.class, Placeholder.shape(Shape.scalar())); // []
    optimizerScalars =
        tf.withName("optimizer_scalars").placeholder(TFloat32.class, Placeholder.shape(Shape.of(AdamW.SCALARS))); // [3]

    backbone = Llama.create(scopes, backboneConfig, "model");
    backboneLoader = WeightLoader.create(scopes, backbone);
    Ops scoreOps = scopes.get("score");
    int h = backboneConfig.hiddenSize();
    score = scoreOps.withName(SCORE).variable(Shape.of(1, h), TFloat32.class); // [1, H]
    Operand<TFloat32> scoreRead = scoreOps.withName("read").identity(score); // [1, H]
    scoreValue = scoreOps.withName("value").placeholder(TFloat32.class, Placeholder.shape(Shape.of(1, h))); // [1, H]
    scoreAssign = scoreOps.withName("load").assign(score, scoreValue);

    scores = rowScores(scopes.get("forward"), scoreRead); // [R]
    Ops lossOps = scopes.get("loss");
    Operand<TFloat32> byKind = lossOps.reshape(scores, lossOps.constant(new int[] {2, -1})); // [2, P]
    Operand<TFloat32> chosen = lossOps.gather(byKind, lossOps.constant(0), lossOps.constant(0)); // [P]
    Operand<TFloat32> rejected = lossOps.gather(byKind, lossOps.constant(1), lossOps.constant(0)); // [P]
    RewardLoss.Result loss = RewardLoss.compute(lossOps, chosen, rejected, margins, s.centerRewardsCoefficient());
    metrics = loss.metrics(); // [6]

    ParameterSet trainable = parameters(backbone, score, scoreRead);
    Ops optOps = scopes.get("optimizer");
    gradients = GradientAccumulation.build(tf, optOps, scopes, loss.loss(), trainable, gradScale, null);
    OptimizerUpdate update = OptimizerUpdate.build(
        optOps, scopes, trainable, gradients.combined(optOps), s.maxGradNorm(), s.adam(), optimizerScalars);
    gradNorm = update.gradNorm(); // []
    gradNorms = update.gradNorms(); // [#params]
    apply = gradients.resetAfter(optOps, update.updates(), "apply");
    Map<String, Variable<TFloat32>> state = new LinkedHashMap<>();
    trainable.variables().forEach((name, variable) -> state.put("model/" + name, variable));
    state.putAll(update.moments());
    checkpoint = new StateCheckpoint(scopes.get("checkpoint"), state);
    session = new Session(graph, Sessions.config(s.threads()));
  }

  /** Builds the graph and its session. */
  public static RewardGraph build(Settings settings) {
    return new RewardGraph(settings);
  }

  /**
   * The reward of each row {@code [R]}: the backbone's final hidden state at the row's score token, times
   * the head. Attention is causal within each row's real tokens (segment 1), padding is segment 0;
   * positions count from 0 as transformers' default position ids do.
   */
  private Operand<TFloat32> rowScores(Ops tf, Operand<TFloat32> head) {
    Operand<TInt32> rowsAndLength = tf.shape(inputIds); // [2] = (R, L)
    Operand<TInt32> length = tf.gather(rowsAndLength, tf.constant(1), tf.constant(0)); // []
    Operand<TInt32> rowCount = tf.gather(rowsAndLength, tf.constant(0), tf.constant(0)); // []
    Operand<TInt32> positions = tf.range(tf.constant(0), length, tf.constant(1)); // [L]
    Operand<TInt32> zeros = tf.zerosLike(inputIds); // [R, L]
    Operand<TInt32> positionIds = tf.math.add(zeros, tf.expandDims(positions, tf.constant(0))); // [R, L]
    Operand<TInt32> segmentIds = tf.dtypes.cast(
        tf.math.less(positionIds, tf.expandDims(lengths, tf.constant(1))), TInt32.class); // [R, L]
    Operand<TFloat32> hidden =
        backbone.hidden(tf, new Llama.Inputs(inputIds, positionIds, segmentIds, zeros)); // [R, L, H]
    Operand<TFloat32> flat =
        tf.reshape(hidden, tf.constant(new int[] {-1, backboneConfig.hiddenSize()})); // [R*L, H]
    Operand<TInt32> rowStarts = tf.math.mul(tf.range(tf.constant(0), rowCount, tf.constant(1)), length); // [R]
    Operand<TFloat32> last = tf.gather(flat, tf.math.add(rowStarts, scoreIndices), tf.constant(0)); // [R, H]
    Operand<TFloat32> projected = Layers.linear(tf, last, head, null); // [R, 1]
    return tf.reshape(projected, tf.constant(new int[] {-1})); // [R]
  }

  /** Backbone weights (decay as their kind says) and the head (a projection: decays, as in transformers). */
  private static ParameterSet parameters(Llama backbone, Variable<TFloat32> score, Operand<TFloat32> scoreRead) {
    ParameterSet body = ParameterSet.wholeModel(backbone);
    Map<String, Variable<TFloat32>> variables = new LinkedHashMap<>(body.variables());
    List<Operand<TFloat32>> reads = new ArrayList<>(body.reads());
    Map<String, Shape> shapes = new LinkedHashMap<>(body.shapes());
    Map<String, Boolean> decays = new LinkedHashMap<>(body.decays());
    variables.put(SCORE, score);
    reads.add(scoreRead);
    shapes.put(SCORE, score.shape());
    decays.put(SCORE, LlamaWeights.Kind.PROJECTION.decays());
    return new ParameterSet(variables, reads, shapes, decays, Map.of());
  }

  /**
   * Loads the backbone from a causal-LM or sequence-classification checkpoint. The head comes from the
   * file's {@code score.weight} when it has one; otherwise it is drawn from N(0, {@code initRange}^2) with
   * {@code seed} (transformers' initialization of a new Linear head; a different generator than torch's,
   * so the draw itself differs from TRL's).
   *
   * @return whether the head came from the file
   */
  public boolean load(SafeTensorsReader weights, double initRange, long seed) throws IOException {
    backboneLoader.load(session, weights, Set.of(SCORE));
    float[] head;
    boolean fromFile = weights.contains(SCORE);
    if (fromFile) {
      long[] shape = weights.info(SCORE).shape();
      if (shape.length != 2 || shape[0] != 1 || shape[1] != backboneConfig.hiddenSize()) {
        throw new IOException(weights.source() + ": " + SCORE + " has shape " + java.util.Arrays.toString(shape)
            + " but a reward model needs [1, " + backboneConfig.hiddenSize() + "] (num_labels 1)");
      }
      head = weights.readFloats(SCORE);
      for (int i = 0; i < head.length; i++) {
        if (!Float.isFinite(head[i])) {
          throw new IOException(weights.source() + ": " + SCORE + " holds " + head[i] + " at element " + i
              + "; the checkpoint is damaged or was saved from a diverged run: use another one");
        }
      }
    } else {
      head = seededHead(backboneConfig.hiddenSize(), initRange, seed);
    }
    assignHead(head);
    return fromFile;
  }

  /** {@code n} draws of N(0, range^2) from {@code seed}. */
  public static float[] seededHead(int n, double range, long seed) {
    Random random = new Random(seed);
    float[] head = new float[n];
    for (int i = 0; i < n; i++) {
      head[i] = (float) (random.nextGaussian() * range);
    }
    return head;
  }

  /** Sets the head {@code [H]}. */
  public void assignHead(float[] head) {
    try (Tensor t = Tensors.floats(new long[] {1, head.length}, head)) {
      session.runner().feed(scoreValue, t).addTarget(scoreAssign).run();
    }
  }

  /** Forward and backward on one micro-batch; adds {@code gradient * scale} to the accumulators. */
  public MicroResult micro(RewardBatch b, float scale) {
    return run(b, scale, true);
  }

  /** Forward only (evaluation): the same metrics, no state change. */
  public MicroResult evaluate(RewardBatch b) {
    return run(b, 1f, false);
  }

  /** {@link RewardLoss#METRICS}. */
  @Override
  public List<String> metricNames() {
    return RewardLoss.METRICS;
  }

  /** {@link #micro(RewardBatch, float)} of the one shard: a reward graph has one replica and no reference. */
  @Override
  public MicroResult micro(List<RewardBatch> shards, float scale, List<float[]> referenceLogps) {
    if (referenceLogps != null) {
      throw new IllegalArgumentException("a reward model reads no reference log-probs");
    }
    return micro(single(shards), scale);
  }

  /** {@link #evaluate(RewardBatch)} of the one shard. */
  @Override
  public MicroResult evaluate(List<RewardBatch> shards) {
    return evaluate(single(shards));
  }

  private static RewardBatch single(List<RewardBatch> shards) {
    if (shards.size() != 1) {
      throw new IllegalArgumentException("a reward graph trains on one device; got " + shards.size() + " shards");
    }
    return shards.get(0);
  }

  /** One: data parallelism is not built for reward models. */
  @Override
  public int replicas() {
    return 1;
  }

  /** None: the reward graph is not compiled with XLA. */
  @Override
  public int xlaClusters() {
    return 0;
  }

  private MicroResult run(RewardBatch b, float scale, boolean accumulate) {
    List<Tensor> fed = new ArrayList<>();
    try {
      Session.Runner runner = session.runner();
      runner.feed(inputIds, keep(fed, Tensors.ints(new long[] {b.rows(), b.length()}, b.inputIds())));
      runner.feed(lengths, keep(fed, Tensors.ints(new long[] {b.rows()}, b.lengths())));
      runner.feed(scoreIndices, keep(fed, Tensors.ints(new long[] {b.rows()}, b.scoreIndices())));
      runner.feed(margins, keep(fed, Tensors.floats(new long[] {b.numPairs()}, b.margins())));
      runner.feed(gradScale, keep(fed, TFloat32.scalarOf(scale)));
      runner.fetch(metrics).fetch(scores);
      if (accumulate) {
        runner.addTarget(gradients.accumulate());
      }
      try (var result = StepTrace.run(accumulate ? trace : null, runner)) {
        return new MicroResult(Tensors.toFloats(result.get(0)), Tensors.toFloats(result.get(1)));
      }
    } finally {
      fed.forEach(Tensor::close);
    }
  }

  private static <T extends Tensor> T keep(List<Tensor> fed, T t) {
    fed.add(t);
    return t;
  }

  /** The accumulated gradient's global and per-parameter norms (changes nothing). */
  public DpoGraph.GradientNorm gradientNorm() {
    try (var result = StepTrace.run(trace, session.runner().fetch(gradNorm).fetch(gradNorms))) {
      return new DpoGraph.GradientNorm(Tensors.toFloats(result.get(0))[0],
          List.copyOf(gradients.accumulators().keySet()), Tensors.toFloats(result.get(1)));
    }
  }

  /** Clips with {@code norm} (from {@link #gradientNorm}), applies AdamW and clears the accumulators. */
  public void apply(float[] scalars, float norm) {
    try (Tensor sc = Tensors.floats(new long[] {scalars.length}, scalars);
        Tensor n = TFloat32.scalarOf(norm)) {
      StepTrace.run(trace, session.runner().feed(optimizerScalars, sc).feed(gradNorm, n).addTarget(apply)).close();
    }
  }

  @Override
  public void trace(StepTrace trace) {
    this.trace = trace;
  }

  /** Where the step's runs are traced ({@code profile_step}); null: not traced. */
  private StepTrace trace;

  /**
   * The model's weights by Hugging Face name, as {@code LlamaForSequenceClassification} names them: the
   * backbone's, then {@code score.weight} {@code [1, H]}; no {@code lm_head.weight}.
   */
  public Map<String, float[]> weights() {
    Map<String, float[]> out = new LinkedHashMap<>(backboneLoader.read(session));
    try (var result = session.runner().fetch(score).run()) {
      out.put(SCORE, Tensors.toFloats(result.get(0)));
    }
    return out;
  }

  /** Writes the trained weights and AdamW's moments as a TensorFlow checkpoint (between steps). */
  public void saveState(Path prefix) {
    checkpoint.save(session, prefix);
  }

  /** Restores what {@link #saveState} wrote. */
  public void restoreState(Path prefix) {
    checkpoint.restore(session, prefix);
  }

  /** Bytes held by the graph's variables (weights, accumulators, Adam's m and v). */
  public long variableBytes() {
    long bytes = 0;
    for (var it = graph.operations(); it.hasNext(); ) {
      var op = it.next();
      if (op.type().equals("VariableV2")) {
        bytes += 4 * op.output(0).shape().size();
      }
    }
    return bytes;
  }

  @Override
  public void close() {
    session.close();
    graph.close();
  }
}
