package dev.tfdpo.ops;

import java.util.List;
import org.tensorflow.GraphOperation;
import org.tensorflow.Operand;
import org.tensorflow.Output;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.ReduceMax;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TFloat64;
import org.tensorflow.types.TInt32;
import org.tensorflow.types.family.TNumber;

/**
 * Per-sequence summed log-probabilities of completion tokens, computing the vocabulary projection
 * only at the positions that predict a completion token.
 *
 * <p>The batch names each counted prediction by three compact vectors of equal length Nc: the
 * predicting position (flat row-major index {@code r * L + t} into the {@code [R, L]} rows), the target
 * token id, and the sequence it belongs to. A position may appear more than once: in a packed
 * {@code [prompt, chosen, rejected]} segment the prompt's last position predicts the first token of
 * both completions. Gathering those positions first means prompts and padding never reach the
 * {@code [*, V]} logits: the full-vocabulary tensors are {@code [Nc, V]}. A sequence index of -1 marks
 * a filler entry (used to round Nc up to a fixed bucket so compiled shapes repeat); it counts nowhere.
 *
 * <p>For each counted position: {@code logp = logits[target] - logsumexp(logits)} in float32, as TRL.
 * The vocabulary projection may run in bfloat16 ({@link Precision}); its logits are cast to float32
 * before the log-softmax, and every sum after it is float32 (float64 for the log-prob sums).
 *
 * <p>Two per-sequence extras serve TRL's options; TensorFlow only runs them when a fetch needs them.
 * {@link Result#tailLogps} (LD-DPO) needs each token's position within its completion: it is counted
 * in the graph, which relies on the batch contract that a sequence's entries come in completion order,
 * and that sequences {@code s} and {@code s + S/2} are the chosen and rejected completions of pair
 * {@code s} (both true of the padded and the packed batches).
 */
public final class CompletionLogProbs {

  /**
   * Results, each indexed by sequence ({@code [S]}).
   *
   * @param logps summed completion log-probabilities (differentiable)
   * @param tokens number of counted completion tokens
   * @param meanLogitSum sum over counted positions of the vocabulary-mean logit (no gradient)
   * @param entropySum sum over counted positions of the predictive entropy (no gradient)
   * @param argmaxHits counted positions whose argmax is the target (no gradient)
   * @param tailLogps summed log-probs of the completion tokens past {@code min(n_c, n_r)} of the
   *     sequence's pair, 1-based position {@code > min} (differentiable; LD-DPO's "verbose" part)
   * @param logSquaredProbSum sum over counted positions of {@code log sum_v p_v^2} (no gradient; WPO)
   * @param logps64 {@link #logps} before its final rounding to float32 (for checks finer than a
   *     float32 ulp of the sums)
   */
  public record Result(
      Operand<TFloat32> logps,
      Operand<TFloat32> tokens,
      Operand<TFloat32> meanLogitSum,
      Operand<TFloat32> entropySum,
      Operand<TFloat32> argmaxHits,
      Operand<TFloat32> tailLogps,
      Operand<TFloat32> logSquaredProbSum,
      Operand<TFloat64> logps64) {

    /**
     * LD-DPO (Liu et al. 2024, arXiv:2409.06411; TRL {@code ld_alpha}) sequence log-probs {@code [S]}:
     * {@code shared + alpha * tail}, the tokens past the pair's shared length {@code min(n_c, n_r)}
     * weighted by alpha. {@code alpha = 1} gives {@link #logps} itself.
     */
    public Operand<TFloat32> ldWeightedLogps(Ops tf, float alpha) {
      if (alpha == 1f) {
        return logps;
      }
      return tf.math.sub(logps, tf.math.mul(tf.constant(1f - alpha), tailLogps));
    }

    /**
     * WPO (Zhou et al. 2024, arXiv:2406.11827, eq. 2; TRL {@code use_weighting}) per-sequence weights
     * {@code [S]}, no gradient: {@code exp(mean_t(logp_t - log sum_v p_v^2))} over the completion, the
     * length-normalised probability of the sequence under the policy's own sampling distribution.
     */
    public Operand<TFloat32> wpoWeights(Ops tf) {
      Operand<TFloat32> aligned = tf.math.sub(logps, logSquaredProbSum); // [S]
      Operand<TFloat32> length = tf.math.maximum(tokens, tf.constant(1f)); // [S]
      return tf.stopGradient(tf.math.exp(tf.math.div(aligned, length)));
    }
  }

  private CompletionLogProbs() {}

  /**
   * How the target token's logit is read for its log-probability. Both give the same value up to the
   * rounding of one dot product; a run uses one of them for its policy and its reference alike, so the two
   * agree bitwise while their weights do.
   */
  public enum TargetLogit {
    /**
     * Gathered from the {@code [Nc, V]} logits. For a trained head: the gather's gradient is one more
     * dense {@code [Nc, V]} tensor in the backward pass, added to the softmax part's.
     */
    FROM_LOGITS,
    /**
     * The product of each position's hidden state with its target's head row ({@code [Nc, H]} each). For a
     * frozen head (LoRA): the gradient reaches the hidden states directly, so the backward pass holds one
     * {@code [Nc, V]} tensor fewer (311 MB at 512 positions of a 151,936-token vocabulary). With a trained
     * head its gather would add a dense {@code [V, H]} gradient instead.
     */
    ROW_PRODUCT
  }

  /** {@link #compute(Ops, Operand, Operand, Operand, Operand, Operand, Operand, Precision)} in float32. */
  public static Result compute(Ops tf, Operand<TFloat32> hidden, Operand<? extends TNumber> lmHead,
      Operand<TInt32> positions, Operand<TInt32> targets, Operand<TInt32> sequence, Operand<TInt32> numSequences) {
    return compute(tf, hidden, lmHead, positions, targets, sequence, numSequences, Precision.FLOAT32);
  }

  /** {@link #compute(Ops, Operand, Operand, Operand, Operand, Operand, Operand, Precision, TargetLogit)} from the logits. */
  public static Result compute(Ops tf, Operand<TFloat32> hidden, Operand<? extends TNumber> lmHead,
      Operand<TInt32> positions, Operand<TInt32> targets, Operand<TInt32> sequence, Operand<TInt32> numSequences,
      Precision precision) {
    return compute(tf, hidden, lmHead, positions, targets, sequence, numSequences, precision, TargetLogit.FROM_LOGITS,
        false);
  }

  /**
   * @param hidden final normalised hidden states {@code [R, L, H]}
   * @param lmHead {@code [V, H]}
   * @param positions {@code [Nc]} flat predicting positions {@code r * L + t}
   * @param targets {@code [Nc]} the token id each position must predict
   * @param sequence {@code [Nc]} the sequence each prediction counts for, -1 for filler entries
   * @param numSequences scalar S
   * @param precision of the vocabulary projection
   * @param target how the target's logit is read
   * @param metricsFirst the log-probs feed a backward pass: they wait for the per-token metrics, the logits'
   *     last readers, so the logits are freed before the backward pass allocates its own {@code [Nc, V]}
   *     gradient (computed side by side, the two were alive together). A forward-only pass (a reference)
   *     leaves the metrics to whoever fetches them.
   */
  public static Result compute(
      Ops tf,
      Operand<TFloat32> hidden,
      Operand<? extends TNumber> lmHead,
      Operand<TInt32> positions,
      Operand<TInt32> targets,
      Operand<TInt32> sequence,
      Operand<TInt32> numSequences,
      Precision precision,
      TargetLogit target,
      boolean metricsFirst) {
    Operand<TInt32> hiddenSize = tf.slice(tf.shape(lmHead), tf.constant(new int[] {1}), tf.constant(new int[] {1})); // [1]
    Operand<TInt32> flatShape = tf.concat(List.of(tf.constant(new int[] {-1}), hiddenSize), tf.constant(0)); // [2]
    Operand<TFloat32> flatHidden = tf.reshape(hidden, flatShape); // [R*L, H]
    Operand<TFloat32> h = tf.gather(flatHidden, positions, tf.constant(0)); // [Nc, H]

    // In bfloat16 the head's bfloat16 copy ([V, H]) is cast again for the backward pass, not kept (Bf16Projection).
    Operand<TFloat32> logits = Layers.linear(tf, h, lmHead, null, precision); // [Nc, V], float32
    Softmax softmax = Softmax.of(tf, logits);
    Operand<TFloat32> oneHot =
        tf.oneHot(sequence, numSequences, tf.constant(1f), tf.constant(0f)); // [Nc, S]
    Operand<TFloat32> tokens = tf.reduceSum(oneHot, tf.constant(0)); // [S]

    // Metrics only: kept off the gradient path.
    Operand<TFloat32> frozenOneHot = tf.stopGradient(oneHot); // [Nc, S]
    Operand<TFloat32> frozenExp = tf.stopGradient(softmax.expShifted()); // [Nc, V]
    Operand<TFloat32> frozenSumExp = tf.stopGradient(softmax.sumExp()); // [Nc]
    TokenMetrics perToken = TokenMetrics.of(tf, logits, frozenExp, frozenSumExp, softmax.logSumExp(), targets); // 3 x [Nc]
    List<org.tensorflow.Output<TFloat32>> rows = perToken.perSequence(tf, frozenOneHot); // 3 x [S]
    Operand<TFloat32> logSquaredSum = wpoLogSquaredSums(tf, frozenExp, frozenSumExp, frozenOneHot); // [S]

    Operand<TFloat32> tokenLogps;
    if (target == TargetLogit.ROW_PRODUCT) {
      Operand<TFloat32> targetLogits = rowProducts(tf, h, lmHead, targets, precision); // [Nc]
      tokenLogps = softmax.logProbs(tf, logits, targetLogits, targetLogits); // [Nc]
    } else {
      Operand<TInt32> pairs = targetPairs(tf, logits, targets); // [Nc, 2]
      tokenLogps = softmax.logProbs(tf, logits, tf.gatherNd(logits, pairs), pairs); // [Nc]
    }
    if (metricsFirst) {
      tokenLogps = tf.withControlDependencies(perToken.all()).identity(tokenLogps); // [Nc]
    }
    Operand<TFloat64> logps64 = sumsInFloat64(tf, tokenLogps, sequence, numSequences); // [S]
    Operand<TFloat32> logps = tf.dtypes.cast(logps64, TFloat32.class); // [S]
    Operand<TFloat32> tailLogps = ldTailLogProbs(tf, tokenLogps, tokens, frozenOneHot); // [S]
    return new Result(logps, tokens, rows.get(0), rows.get(1), rows.get(2), tailLogps, logSquaredSum, logps64);
  }

  /** The pieces of a numerically stable log-softmax over the vocabulary. */
  private record Softmax(Operand<TFloat32> expShifted, Operand<TFloat32> sumExp, Operand<TFloat32> logSumExp) {

    /** The lean form of {@link #logProbs} whose targets were gathered from the logits by (row, id) pairs. */
    static final String GATHERED = "log_softmax_gathered";
    /** The lean form of {@link #logProbs} whose target logits were computed apart (row products). */
    static final String APART = "log_softmax_apart";

    static {
      LeanGradients.rule(GATHERED, Softmax::gradient);
      LeanGradients.rule(APART, Softmax::gradient);
    }

    static Softmax of(Ops tf, Operand<TFloat32> logits) {
      Operand<TFloat32> rowMax =
          tf.stopGradient(tf.reduceMax(logits, tf.constant(1), ReduceMax.keepDims(true))); // [Nc, 1]
      Operand<TFloat32> shifted = tf.math.sub(logits, rowMax); // [Nc, V]
      Operand<TFloat32> expShifted = tf.math.exp(shifted); // [Nc, V]
      Operand<TFloat32> sumExp = tf.reduceSum(expShifted, tf.constant(1)); // [Nc]
      Operand<TFloat32> logSumExp =
          tf.math.add(tf.math.log(sumExp), tf.reshape(rowMax, tf.constant(new int[] {-1}))); // [Nc]
      return new Softmax(expShifted, sumExp, logSumExp);
    }

    /**
     * {@code targetLogits - logSumExp} {@code [Nc]}, whose gradient keeps one {@code [Nc, V]} tensor where
     * TensorFlow's keeps three at once at the start of the backward pass (311 MB each at 512 positions of a
     * 151,936-token vocabulary), bitwise the same values: the exponentials {@code e} the forward pass keeps
     * become {@code d logits} in place. TensorFlow's own gradient makes the sum's gradient a tiled
     * {@code [Nc, V]} tensor, multiplies it by {@code e} (the exponential's gradient) and adds the gather's
     * scattered {@code [Nc, V]} gradient; here {@code e} is multiplied by the per-row factor directly (the same
     * products) and the target's gradient is added at its one entry per row.
     *
     * @param target the (row, id) pairs {@code [Nc, 2]} the target logits were gathered by, or the target
     *     logits themselves {@code [Nc]} when computed apart (differentiated by their own operations)
     */
    Operand<TFloat32> logProbs(Ops tf, Operand<TFloat32> logits, Operand<TFloat32> targetLogits, Operand<?> target) {
      Operand<TFloat32> tokenLogps = tf.math.sub(targetLogits, logSumExp); // [Nc]
      if (!LeanGradients.active()) {
        return tokenLogps;
      }
      boolean gathered = target.type() == TInt32.class;
      return LeanGradients.marked(tf, gathered ? GATHERED : APART, tokenLogps, List.of(logits,
          tf.stopGradient(expShifted), tf.stopGradient(sumExp), gathered ? tf.stopGradient(target) : target)); // [Nc]
    }

    /**
     * {@code d logits = -g / sumExp * e} (TensorFlow's gradients of the subtraction, the log, the sum and
     * the exponential, in that order of operations), plus {@code g} at each row's target entry.
     */
    @SuppressWarnings("unchecked")
    private static List<Operand<?>> gradient(Ops tf, GraphOperation op, List<Output<?>> grads) {
      Operand<TFloat32> g = (Operand<TFloat32>) grads.get(0); // [Nc]
      Operand<TFloat32> expShifted = (Operand<TFloat32>) op.input(2); // [Nc, V]
      Operand<TFloat32> sumExp = (Operand<TFloat32>) op.input(3); // [Nc]
      Operand<TFloat32> dSumExp = tf.math.mul(tf.math.neg(g), tf.math.reciprocal(sumExp)); // [Nc]
      Operand<TFloat32> dShifted =
          tf.math.mul(tf.reshape(dSumExp, tf.constant(new int[] {-1, 1})), expShifted); // [Nc, V], in e's buffer
      Operand<?> unusedExp = LeanGradients.unused(tf, op, 2);
      Operand<?> unusedSum = LeanGradients.unused(tf, op, 3);
      if (LeanGradients.markOf(op.name()).equals(APART)) {
        return List.of(g, dShifted, unusedExp, unusedSum, g);
      }
      Operand<TInt32> pairs = (Operand<TInt32>) op.input(4); // [Nc, 2]
      Operand<TFloat32> dLogits = tf.tensorScatterNdAdd(dShifted, pairs, g); // [Nc, V], in place
      return List.of(g, dLogits, unusedExp, unusedSum, LeanGradients.unused(tf, op, 4));
    }
  }

  /**
   * The (row, target) pairs {@code [Nc, 2]} the target logits are gathered by from the logits: a
   * GatherNd, whose gradient is one ScatterNd into {@code [Nc, V]} (a gather from the flattened logits
   * differentiates into an UnsortedSegmentSum over Nc x V segments, which TensorFlow's CPU kernel ran
   * 50-70x slower: 190-300 ms of a 4 s step on the 135M shape).
   */
  private static Operand<TInt32> targetPairs(Ops tf, Operand<TFloat32> logits, Operand<TInt32> targets) {
    Operand<TInt32> count = tf.gather(tf.shape(logits), tf.constant(0), tf.constant(0)); // []
    Operand<TInt32> rows = tf.range(tf.constant(0), count, tf.constant(1)); // [Nc]
    return tf.stack(List.of(rows, targets), org.tensorflow.op.core.Stack.axis(1L)); // [Nc, 2]
  }

  /** The target's logit at each position as {@code h_n . W[target_n]}, in the head's precision {@code [Nc]}. */
  private static Operand<TFloat32> rowProducts(Ops tf, Operand<TFloat32> h, Operand<? extends TNumber> lmHead,
      Operand<TInt32> targets, Precision precision) {
    Operand<? extends TNumber> rows = tf.gather(lmHead, targets, tf.constant(0)); // [Nc, H]
    return precision.einsum(tf, "nh,nh->n", h, rows); // [Nc]
  }

  /**
   * Per-sequence sums of the token log-probs {@code [S]}. They are accumulated in float64 and rounded
   * once: a float32 accumulation rounds at every step, so the same tokens listed in another order or
   * layout (packed rows) could differ by several ulps of the ~1e3-sized sums instead of at most one.
   */
  private static Operand<TFloat64> sumsInFloat64(Ops tf, Operand<TFloat32> tokenLogps, Operand<TInt32> sequence,
      Operand<TInt32> numSequences) {
    Operand<TFloat64> logpRow =
        tf.reshape(tf.dtypes.cast(tokenLogps, TFloat64.class), tf.constant(new int[] {1, -1})); // [1, Nc]
    Operand<TFloat64> oneHot64 =
        tf.oneHot(sequence, numSequences, tf.constant(1.0), tf.constant(0.0)); // [Nc, S]
    return tf.reshape(tf.linalg.matMul(logpRow, oneHot64), tf.constant(new int[] {-1})); // [S]
  }

  /**
   * Row-wise dot products of two {@code [Nc, V]} tensors {@code [Nc]}, as one batched product of
   * {@code [1, V] x [V, 1]} per row: an element-wise product then a sum would make a third
   * {@code [Nc, V]} tensor (311 MB at 512 positions of a 151,936-token vocabulary), at the step's peak.
   */
  static Operand<TFloat32> rowDots(Ops tf, Operand<TFloat32> a, Operand<TFloat32> b) {
    Operand<TFloat32> rowsA = tf.expandDims(a, tf.constant(1)); // [Nc, 1, V]
    Operand<TFloat32> columnsB = tf.expandDims(b, tf.constant(2)); // [Nc, V, 1]
    return tf.reshape(tf.train.batchMatMul(rowsA, columnsB, TFloat32.class), tf.constant(new int[] {-1})); // [Nc]
  }

  /**
   * Per-token mean logit, entropy and argmax hit, without gradient ({@code [Nc]} each). The entropy is
   * {@code logsumexp - sum_v p_v logit_v} with {@code sum_v p_v logit_v = (sum_v e_v logit_v) / sum_v e_v}
   * from the shifted exponentials {@code e}, so no probability tensor is made.
   */
  private record TokenMetrics(Operand<TFloat32> meanLogit, Operand<TFloat32> entropy, Operand<TFloat32> hits) {

    static TokenMetrics of(Ops tf, Operand<TFloat32> logits, Operand<TFloat32> expShifted, Operand<TFloat32> sumExp,
        Operand<TFloat32> logSumExp, Operand<TInt32> targets) {
      Operand<TFloat32> frozen = tf.stopGradient(logits); // [Nc, V]
      Operand<TFloat32> meanLogit = tf.math.mean(frozen, tf.constant(1)); // [Nc]
      Operand<TFloat32> expectedLogit = tf.math.div(rowDots(tf, expShifted, frozen), sumExp); // [Nc]
      Operand<TFloat32> entropy = tf.math.sub(tf.stopGradient(logSumExp), expectedLogit); // [Nc]
      Operand<TInt32> argmax = tf.math.argMax(frozen, tf.constant(1), TInt32.class); // [Nc]
      Operand<TFloat32> hits = tf.dtypes.cast(tf.math.equal(argmax, targets), TFloat32.class); // [Nc]
      return new TokenMetrics(meanLogit, entropy, hits);
    }

    List<org.tensorflow.op.Op> all() {
      return List.of(meanLogit, entropy, hits);
    }

    /** Per-sequence sums: 3 x {@code [S]}. */
    List<org.tensorflow.Output<TFloat32>> perSequence(Ops tf, Operand<TFloat32> frozenOneHot) {
      Operand<TFloat32> stacked = tf.stack(List.of(meanLogit, entropy, hits)); // [3, Nc]
      Operand<TFloat32> sums = tf.linalg.matMul(stacked, frozenOneHot); // [3, S]
      return tf.unstack(sums, 3L).output(); // 3 x [S]
    }
  }

  /**
   * WPO: per-sequence sums of {@code log sum_v p_v^2 = log sum_v e_v^2 - 2 log sum_v e_v} from the frozen
   * shifted exponentials {@code e} {@code [S]}.
   */
  private static Operand<TFloat32> wpoLogSquaredSums(Ops tf, Operand<TFloat32> expShifted, Operand<TFloat32> sumExp,
      Operand<TFloat32> frozenOneHot) {
    Operand<TFloat32> logSquared = tf.math.sub(tf.math.log(rowDots(tf, expShifted, expShifted)),
        tf.math.mul(tf.constant(2f), tf.math.log(sumExp))); // [Nc]
    return tf.reshape(
        tf.linalg.matMul(tf.reshape(logSquared, tf.constant(new int[] {1, -1})), frozenOneHot),
        tf.constant(new int[] {-1})); // [S]
  }

  /**
   * LD-DPO: per-sequence sums of the log-probs of the tokens past the pair's shared length
   * min(n_c, n_r), by each counted token's 1-based position within its completion {@code [S]}.
   */
  private static Operand<TFloat32> ldTailLogProbs(Ops tf, Operand<TFloat32> tokenLogps, Operand<TFloat32> tokens,
      Operand<TFloat32> frozenOneHot) {
    Operand<TFloat32> runningCount = tf.math.cumsum(frozenOneHot, tf.constant(0)); // [Nc, S]
    Operand<TFloat32> position = tf.reduceSum(tf.math.mul(runningCount, frozenOneHot), tf.constant(1)); // [Nc]
    Operand<TFloat32> byBranch = tf.reshape(tf.stopGradient(tokens), tf.constant(new int[] {2, -1})); // [2, P]
    Operand<TFloat32> shared = tf.reduceMin(byBranch, tf.constant(0)); // [P]
    Operand<TFloat32> sharedPerSequence = tf.tile(shared, tf.constant(new int[] {2})); // [S]
    // A matmul rather than a gather: filler entries (-1) have an all-zero one-hot row and get 0.
    Operand<TFloat32> sharedColumn = tf.reshape(sharedPerSequence, tf.constant(new int[] {-1, 1})); // [S, 1]
    Operand<TFloat32> sharedAtToken =
        tf.reshape(tf.linalg.matMul(frozenOneHot, sharedColumn), tf.constant(new int[] {-1})); // [Nc]
    Operand<TFloat32> tailMask =
        tf.dtypes.cast(tf.math.greater(position, sharedAtToken), TFloat32.class); // [Nc]
    Operand<TFloat32> tailRow = tf.reshape(tf.math.mul(tokenLogps, tailMask), tf.constant(new int[] {1, -1})); // [1, Nc]
    return tf.reshape(tf.linalg.matMul(tailRow, frozenOneHot), tf.constant(new int[] {-1})); // [S]
  }
}
