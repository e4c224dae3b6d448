package dev.tfdpo.graphs.serving;

import dev.tfdpo.graphs.GraphScopes;
import dev.tfdpo.graphs.Llama;
import dev.tfdpo.graphs.Sessions;
import dev.tfdpo.graphs.WeightLoader;
import dev.tfdpo.io.hf.LlamaConfig;
import dev.tfdpo.ops.CompletionLogProbs;
import dev.tfdpo.ops.Shapes;
import java.util.ArrayList;
import java.util.List;
import org.tensorflow.Graph;
import org.tensorflow.Operand;
import org.tensorflow.Session;
import org.tensorflow.Signature;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Gather;
import org.tensorflow.op.core.Placeholder;
import org.tensorflow.op.core.ReduceMax;
import org.tensorflow.types.TBool;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt32;
import org.tensorflow.types.TInt64;

/**
 * The inference graph a SavedModel is exported from: the policy and the reference ({@code VariableV2}s,
 * which the SavedModel saver covers) and three signatures over them.
 *
 * <ul>
 *   <li>{@value #LOG_PROBS}: {@code input_ids}, {@code attention_mask} {@code [B, L]} int32 to {@code
 *       log_probs} {@code [B, L]} float32, the policy's log-probability of token t given the real tokens
 *       before it; 0 where token t or token t-1 is padding (so 0 at t = 0 and at each row's first token).
 *       Padding may be on either side: positions count real tokens, as transformers does.
 *   <li>{@value #SCORE}: {@code prompt_ids}, {@code prompt_mask} {@code [B, P]}, {@code completion_ids},
 *       {@code completion_mask} {@code [B, C]} int32 to {@code logps} {@code [B]}, the policy's summed
 *       log-probability of the completion after the prompt.
 *   <li>{@value #REWARD}: the same inputs to {@code reward} {@code [B]} = {@code beta * (policy_logps -
 *       reference_logps)}, DPO's implicit reward, plus both terms.
 * </ul>
 *
 * <p>{@value #SCORE} and {@value #REWARD} compute exactly what training does: each row's real prompt
 * tokens and real completion tokens are moved together into one right-padded row of the longest
 * length (the trainer's collated layout), and the completion log-probs are the same ops
 * ({@link CompletionLogProbs}). With an empty prompt nothing predicts the first completion token, so it
 * is not counted, as in training.
 */
public final class ServingGraph implements AutoCloseable {

  public static final String LOG_PROBS = "log_probs";
  public static final String SCORE = "score";
  public static final String REWARD = "reward";

  /** TensorFlow Serving's method for signatures of named tensors in and out. */
  public static final String METHOD = "tensorflow/serving/predict";

  private static final Shape ROWS_BY_LENGTH = Shape.of(Shape.UNKNOWN_SIZE, Shape.UNKNOWN_SIZE);

  private final Graph graph;
  private final Session session;
  private final WeightLoader policyLoader;
  private final WeightLoader referenceLoader;
  private final List<Signature> signatures;

  private ServingGraph(LlamaConfig c, float beta) {
    graph = new Graph();
    Ops tf = GraphScopes.root(graph);
    GraphScopes scopes = GraphScopes.of(tf).reserve(scopeNames());
    Llama policy = Llama.create(scopes, c, "policy");
    Llama reference = Llama.create(scopes, c, "reference");
    policyLoader = WeightLoader.create(scopes, policy);
    referenceLoader = WeightLoader.create(scopes, reference);

    Placeholder<TInt32> inputIds = input(tf, "input_ids"); // [B, L]
    Placeholder<TInt32> attentionMask = input(tf, "attention_mask"); // [B, L]
    Operand<TFloat32> tokenLogps = tokenLogProbs(scopes.get("log_probs_graph"), policy, inputIds, attentionMask); // [B, L]
    Operand<TFloat32> logProbsOut = tf.withName("log_probs").identity(tokenLogps); // [B, L]

    Placeholder<TInt32> promptIds = input(tf, "prompt_ids"); // [B, P]
    Placeholder<TInt32> promptMask = input(tf, "prompt_mask"); // [B, P]
    Placeholder<TInt32> completionIds = input(tf, "completion_ids"); // [B, C]
    Placeholder<TInt32> completionMask = input(tf, "completion_mask"); // [B, C]
    Rows rows = Rows.build(scopes.get("rows"), promptIds, promptMask, completionIds, completionMask);
    Operand<TFloat32> policySeq = rows.completionLogps(scopes.get("policy_forward"), policy); // [B]
    Operand<TFloat32> referenceSeq = rows.completionLogps(scopes.get("reference_forward"), reference); // [B]
    Operand<TFloat32> reward =
        tf.math.mul(tf.constant(beta), tf.math.sub(policySeq, referenceSeq)); // [B]
    Operand<TFloat32> policyOut = tf.withName("policy_logps").identity(policySeq); // [B]
    Operand<TFloat32> referenceOut = tf.withName("reference_logps").identity(referenceSeq); // [B]
    Operand<TFloat32> rewardOut = tf.withName("reward").identity(reward); // [B]

    signatures = List.of(
        Signature.builder().key(LOG_PROBS).methodName(METHOD)
            .input("input_ids", inputIds).input("attention_mask", attentionMask)
            .output("log_probs", logProbsOut).build(),
        Signature.builder().key(SCORE).methodName(METHOD)
            .input("prompt_ids", promptIds).input("prompt_mask", promptMask)
            .input("completion_ids", completionIds).input("completion_mask", completionMask)
            .output("logps", policyOut).build(),
        Signature.builder().key(REWARD).methodName(METHOD)
            .input("prompt_ids", promptIds).input("prompt_mask", promptMask)
            .input("completion_ids", completionIds).input("completion_mask", completionMask)
            .output("reward", rewardOut).output("policy_logps", policyOut)
            .output("reference_logps", referenceOut).build());

    session = new Session(graph, Sessions.config(0));
  }

  /** Every sub-scope of this graph, created while it is empty ({@link GraphScopes}). */
  private static List<String> scopeNames() {
    List<String> names = new ArrayList<>(Llama.scopeNames("policy"));
    names.addAll(Llama.scopeNames("reference"));
    names.addAll(List.of("log_probs_graph", "rows", "policy_forward", "reference_forward"));
    return names;
  }

  /** Builds the graph for {@code config} with DPO temperature {@code beta}. */
  public static ServingGraph build(LlamaConfig config, float beta) {
    return new ServingGraph(config, beta);
  }

  public Session session() {
    return session;
  }

  public WeightLoader policyLoader() {
    return policyLoader;
  }

  public WeightLoader referenceLoader() {
    return referenceLoader;
  }

  /** The signatures, in the order above. */
  public List<Signature> signatures() {
    return signatures;
  }

  @Override
  public void close() {
    session.close();
    graph.close();
  }

  private static Placeholder<TInt32> input(Ops tf, String name) {
    return tf.withName(name).placeholder(TInt32.class, Placeholder.shape(ROWS_BY_LENGTH));
  }

  /**
   * Per-token log-probs {@code [B, L]} of {@code model}: {@code out[b, t] = log p(ids[b, t] | real
   * tokens before t)} where tokens t and t-1 are both real, else 0. Same arithmetic as {@link
   * CompletionLogProbs} ({@code logit[target] - logsumexp}, max-shifted, float32), at every position.
   */
  private static Operand<TFloat32> tokenLogProbs(
      Ops tf, Llama model, Operand<TInt32> inputIds, Operand<TInt32> attentionMask) {
    int hiddenSize = model.config().hiddenSize();
    Operand<TBool> real = tf.math.notEqual(attentionMask, tf.constant(0)); // [B, L]
    Operand<TInt32> realInt = tf.dtypes.cast(real, TInt32.class); // [B, L]
    // Padding ids are never read, but must be valid embedding rows whatever the caller padded with.
    Operand<TInt32> ids = tf.select(real, inputIds, tf.zerosLike(inputIds)); // [B, L]
    Operand<TInt32> realSoFar = tf.math.cumsum(realInt, tf.constant(1)); // [B, L]
    Operand<TInt32> counted = tf.math.sub(realSoFar, tf.constant(1)); // [B, L]
    Operand<TInt32> positions = tf.math.maximum(counted, tf.constant(0)); // [B, L]
    Llama.Inputs in = new Llama.Inputs(ids, positions, realInt, tf.zerosLike(ids));
    Operand<TFloat32> hidden = model.hidden(tf, in); // [B, L, H]

    Operand<TFloat32> flat = tf.reshape(hidden, tf.constant(new int[] {-1, hiddenSize})); // [N, H]
    Operand<TFloat32> logits = model.compute().matMul(tf, flat, model.lmHead(), true); // [N, V]
    Operand<TFloat32> rowMax =
        tf.reduceMax(logits, tf.constant(1), ReduceMax.keepDims(true)); // [N, 1]
    Operand<TFloat32> shifted = tf.math.sub(logits, rowMax); // [N, V]
    Operand<TFloat32> expShifted = tf.math.exp(shifted); // [N, V]
    Operand<TFloat32> sumExp = tf.reduceSum(expShifted, tf.constant(1)); // [N]
    Operand<TFloat32> flatMax = tf.reshape(rowMax, tf.constant(new int[] {-1})); // [N]
    Operand<TFloat32> logSumExp = tf.math.add(tf.math.log(sumExp), flatMax); // [N]

    Operand<TInt32> nextIds = shiftLeft(tf, ids); // [B, L]: position t predicts token t+1
    Operand<TInt32> targets = tf.reshape(nextIds, tf.constant(new int[] {-1})); // [N]
    Operand<TInt32> vocab = tf.gather(tf.shape(logits), tf.constant(1), tf.constant(0)); // []
    Operand<TInt32> count = tf.gather(tf.shape(logits), tf.constant(0), tf.constant(0)); // []
    Operand<TInt32> positionIndex = tf.range(tf.constant(0), count, tf.constant(1)); // [N]
    Operand<TInt32> rowStarts = tf.math.mul(positionIndex, vocab); // [N]
    Operand<TInt32> flatIndex = tf.math.add(rowStarts, targets); // [N]
    Operand<TFloat32> flatLogits = tf.reshape(logits, tf.constant(new int[] {-1})); // [N*V]
    Operand<TFloat32> targetLogits = tf.gather(flatLogits, flatIndex, tf.constant(0)); // [N]
    Operand<TFloat32> nextLogps = tf.math.sub(targetLogits, logSumExp); // [N]
    Operand<TFloat32> predicted = tf.reshape(nextLogps, tf.shape(ids)); // [B, L]: logp of token t+1

    Operand<TFloat32> byToken = shiftRight(tf, predicted); // [B, L]: logp of token t
    Operand<TInt32> previous = shiftRight(tf, realInt); // [B, L]
    Operand<TBool> previousReal = tf.math.notEqual(previous, tf.constant(0)); // [B, L]
    Operand<TBool> scored = tf.math.logicalAnd(real, previousReal); // [B, L]
    return tf.select(scored, byToken, tf.zerosLike(byToken)); // [B, L]
  }

  /** {@code out[:, t] = x[:, t+1]}, 0 in the last column. */
  private static <T extends org.tensorflow.types.family.TNumber> Operand<T> shiftLeft(Ops tf, Operand<T> x) {
    Operand<T> column = Shapes.zeros(tf, Shapes.concat(tf, Shapes.leading(tf, x, 1), 1), x.type()); // [B, 1]
    Operand<T> padded = tf.concat(List.of(x, column), tf.constant(1)); // [B, L+1]
    return tf.slice(padded, tf.constant(new int[] {0, 1}), tf.constant(new int[] {-1, -1})); // [B, L]
  }

  /** {@code out[:, t] = x[:, t-1]}, 0 in the first column. */
  private static <T extends org.tensorflow.types.family.TNumber> Operand<T> shiftRight(Ops tf, Operand<T> x) {
    Operand<T> column = Shapes.zeros(tf, Shapes.concat(tf, Shapes.leading(tf, x, 1), 1), x.type()); // [B, 1]
    Operand<T> padded = tf.concat(List.of(column, x), tf.constant(1)); // [B, L+1]
    return tf.slice(padded, tf.constant(new int[] {0, 0}), tf.shape(x)); // [B, L]
  }

  /**
   * The trainer's collated layout built in the graph from separately padded prompts and completions:
   * row b is its real prompt tokens, then its real completion tokens, then padding, to the longest row.
   *
   * @param ids {@code [B, L]}, 0 on padding
   * @param positions {@code [B, L]}, 0..L-1 as the collator writes them
   * @param segments {@code [B, L]}, 1 on real tokens, 0 on padding
   * @param lossSeq {@code [B, L]}: b where position t predicts a completion token of row b, else -1
   * @param rowCount B
   */
  private record Rows(
      Operand<TInt32> ids,
      Operand<TInt32> positions,
      Operand<TInt32> segments,
      Operand<TInt32> lossSeq,
      Operand<TInt32> rowCount) {

    static Rows build(
        Ops tf,
        Operand<TInt32> promptIds,
        Operand<TInt32> promptMask,
        Operand<TInt32> completionIds,
        Operand<TInt32> completionMask) {
      Operand<TInt32> promptReal = realTokens(tf, promptMask); // [B, P]
      Operand<TInt32> completionReal = realTokens(tf, completionMask); // [B, C]
      Operand<TInt32> promptLength = tf.reduceSum(promptReal, tf.constant(1)); // [B]
      Operand<TInt32> completionLength = tf.reduceSum(completionReal, tf.constant(1)); // [B]
      Operand<TInt32> rowLength = tf.math.add(promptLength, completionLength); // [B]
      Operand<TInt32> promptCompact = compact(tf, promptIds, promptReal); // [B, P]
      Operand<TInt32> completionCompact = compact(tf, completionIds, completionReal); // [B, C]
      Operand<TInt32> joined = tf.concat(List.of(promptCompact, completionCompact), tf.constant(1)); // [B, P+C]
      Operand<TInt32> promptWidth = tf.gather(tf.shape(promptIds), tf.constant(1), tf.constant(0)); // []
      Operand<TInt32> joinedWidth = tf.gather(tf.shape(joined), tf.constant(1), tf.constant(0)); // [] = P+C
      Operand<TInt32> lastColumn = tf.math.sub(joinedWidth, tf.constant(1)); // []
      Operand<TInt32> length = tf.reduceMax(rowLength, tf.constant(0)); // [] = L

      Operand<TInt32> columns = tf.range(tf.constant(0), length, tf.constant(1)); // [L]
      Operand<TInt32> column = tf.expandDims(columns, tf.constant(0)); // [1, L]
      Operand<TInt32> promptEnd = tf.expandDims(promptLength, tf.constant(1)); // [B, 1]
      Operand<TInt32> rowEnd = tf.expandDims(rowLength, tf.constant(1)); // [B, 1]
      Operand<TBool> inPrompt = tf.math.less(column, promptEnd); // [B, L]
      Operand<TInt32> fromCompletion =
          tf.math.add(promptWidth, tf.math.sub(column, promptEnd)); // [B, L]
      Operand<TInt32> fromPrompt = tf.math.add(column, tf.zerosLike(fromCompletion)); // [B, L]
      // Past a row's end the source is clamped to a valid column; those tokens become padding below.
      Operand<TInt32> source =
          tf.math.minimum(tf.select(inPrompt, fromPrompt, fromCompletion), lastColumn); // [B, L]
      Operand<TInt32> gathered =
          tf.gather(joined, source, tf.constant(1), Gather.batchDims(1L)); // [B, L]
      Operand<TBool> isReal = tf.math.less(column, rowEnd); // [B, L]
      Operand<TInt32> ids = tf.select(isReal, gathered, tf.zerosLike(gathered)); // [B, L]
      Operand<TInt32> segments = tf.dtypes.cast(isReal, TInt32.class); // [B, L]
      Operand<TInt32> positions = tf.math.add(tf.zerosLike(ids), column); // [B, L]

      // Position t predicts token t+1; the completion occupies [promptLength, rowLength).
      Operand<TInt32> firstPredictor =
          tf.math.maximum(tf.math.sub(promptEnd, tf.constant(1)), tf.constant(0)); // [B, 1]
      Operand<TInt32> lastPredictor = tf.math.sub(rowEnd, tf.constant(1)); // [B, 1]
      Operand<TBool> afterStart = tf.math.greaterEqual(column, firstPredictor); // [B, L]
      Operand<TBool> beforeEnd = tf.math.less(column, lastPredictor); // [B, L]
      Operand<TBool> predicts = tf.math.logicalAnd(afterStart, beforeEnd); // [B, L]
      Operand<TInt32> rowCount = tf.gather(tf.shape(promptIds), tf.constant(0), tf.constant(0)); // [] = B
      Operand<TInt32> rows = tf.range(tf.constant(0), rowCount, tf.constant(1)); // [B]
      Operand<TInt32> rowIndex = tf.expandDims(rows, tf.constant(1)); // [B, 1]
      Operand<TInt32> rowOfToken = tf.math.add(rowIndex, tf.zerosLike(ids)); // [B, L]
      Operand<TInt32> none = tf.fill(tf.shape(ids), tf.constant(-1)); // [B, L]
      Operand<TInt32> lossSeq = tf.select(predicts, rowOfToken, none); // [B, L]
      return new Rows(ids, positions, segments, lossSeq, rowCount);
    }

    /** Per-row summed completion log-probs {@code [B]} of {@code model}. */
    Operand<TFloat32> completionLogps(Ops tf, Llama model) {
      Llama.Inputs in = new Llama.Inputs(ids, positions, segments, tf.zerosLike(ids));
      Operand<TFloat32> hidden = model.hidden(tf, in); // [B, L, H]
      // The trainer's compact prediction list: flat predicting position, target id, sequence (= row).
      Operand<TInt64> where = tf.where(tf.math.greaterEqual(lossSeq, tf.constant(0))); // [Nc, 2]
      Operand<TInt64> next = tf.math.add(where, tf.constant(new long[] {0, 1})); // [Nc, 2]
      Operand<TInt32> cell = tf.dtypes.cast(where, TInt32.class); // [Nc, 2]
      Operand<TInt32> length = tf.gather(tf.shape(ids), tf.constant(1), tf.constant(0)); // [] = L
      Operand<TInt32> stride = tf.stack(java.util.List.of(length, tf.constant(1))); // [2]
      Operand<TInt32> flat = tf.reduceSum(tf.math.mul(cell, stride), tf.constant(1)); // [Nc]
      Operand<TInt32> targets = tf.gatherNd(ids, next); // [Nc]
      Operand<TInt32> sequence = tf.gatherNd(lossSeq, where); // [Nc]
      return CompletionLogProbs.compute(tf, hidden, model.lmHead(), flat, targets, sequence, rowCount).logps();
    }

    private static Operand<TInt32> realTokens(Ops tf, Operand<TInt32> mask) {
      return tf.dtypes.cast(tf.math.notEqual(mask, tf.constant(0)), TInt32.class); // [B, W]
    }

    /**
     * Moves each row's real tokens to its front, in order ({@code [B, W]}). TopK on a key that is
     * unique within a row (real tokens above padding, earlier before later) is a stable partition.
     */
    private static Operand<TInt32> compact(Ops tf, Operand<TInt32> ids, Operand<TInt32> real) {
      Operand<TInt32> width = tf.gather(tf.shape(ids), tf.constant(1), tf.constant(0)); // [] = W
      Operand<TInt32> column = tf.range(tf.constant(0), width, tf.constant(1)); // [W]
      Operand<TInt32> realFirst = tf.math.mul(real, width); // [B, W]: W on real tokens, 0 on padding
      Operand<TInt32> earlierFirst = tf.math.sub(tf.math.sub(width, tf.constant(1)), column); // [W]: W-1 .. 0
      Operand<TInt32> key = tf.math.add(realFirst, earlierFirst); // [B, W], distinct within a row
      Operand<TInt32> order = tf.nn.topK(key, width, TInt32.class).indices(); // [B, W]
      return tf.gather(ids, order, tf.constant(1), Gather.batchDims(1L)); // [B, W]
    }
  }
}
