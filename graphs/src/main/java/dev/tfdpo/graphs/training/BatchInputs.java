package dev.tfdpo.graphs.training;

import dev.tfdpo.graphs.Llama;
import dev.tfdpo.graphs.Recompute;
import dev.tfdpo.graphs.Tensors;
import dev.tfdpo.ops.CompletionLogProbs;
import java.util.ArrayList;
import java.util.List;
import org.tensorflow.Operand;
import org.tensorflow.Session;
import org.tensorflow.Tensor;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Placeholder;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt32;
import org.tensorflow.types.family.TType;

/**
 * The graph's side of the {@link Batch} contract: the placeholders a micro-batch is fed into, and the
 * per-sequence completion log-probs of a model over them.
 *
 * <p>Every graph that consumes batches (training, a forward-only reference pass, evaluation) builds one
 * of these, so the batch layout is defined in one place. Padded (TRL) and packed (PaddleNLP) batches
 * feed the same placeholders; the attention mask is built in the graph from the segment and branch ids.
 */
public final class BatchInputs {

  /** Shape of every per-token input: rows and length vary from batch to batch. */
  private static final Shape ROWS_BY_LENGTH = Shape.of(Shape.UNKNOWN_SIZE, Shape.UNKNOWN_SIZE);

  /** Shape of every per-prediction input. */
  private static final Shape PREDICTIONS = Shape.of(Shape.UNKNOWN_SIZE);

  private final Operand<TInt32> inputIds;
  private final Operand<TInt32> positionIds;
  private final Operand<TInt32> segmentIds;
  private final Operand<TInt32> branchIds;
  private final Operand<TInt32> lossPositions;
  private final Operand<TInt32> lossTargets;
  private final Operand<TInt32> lossSequences;
  private final Operand<TInt32> numPairs;
  private final Operand<TFloat32> labels;
  /** Where the inputs come from when the replica's task lays its batches out itself; null: fed. */
  private final BatchQueue queue;
  private final Operand<TInt32> numSequences;
  /** How the log-probs read the target logit. */
  private final CompletionLogProbs.TargetLogit target;
  /** The token ids the models read: {@link #inputIds}, or a copy of it that waits ({@link #after}). */
  private final Operand<TInt32> modelIds;

  /** Creates the placeholders in {@code tf}'s graph; target logits from the logits. */
  public BatchInputs(Ops tf) {
    this(tf, CompletionLogProbs.TargetLogit.FROM_LOGITS);
  }

  /**
   * Creates the placeholders in {@code tf}'s graph.
   *
   * @param target how every model's log-probs over these inputs read the target logit: a LoRA run's head is
   *     frozen ({@link CompletionLogProbs.TargetLogit#ROW_PRODUCT}), its policy and reference read it alike
   */
  public BatchInputs(Ops tf, CompletionLogProbs.TargetLogit target) {
    this(tf, target, null);
  }

  /**
   * The inputs of a replica: fed placeholders, or ({@code queue} not null) the batches its own task lays
   * out and queues ({@link BatchQueue}), named as the placeholders would be.
   */
  BatchInputs(Ops tf, CompletionLogProbs.TargetLogit target, BatchQueue queue) {
    this.target = target;
    this.queue = queue;
    inputIds = input(tf, "input_ids", 0, TInt32.class, ROWS_BY_LENGTH); // [R, L]
    positionIds = input(tf, "position_ids", 1, TInt32.class, ROWS_BY_LENGTH); // [R, L]
    segmentIds = input(tf, "segment_ids", 2, TInt32.class, ROWS_BY_LENGTH); // [R, L]
    branchIds = input(tf, "branch_ids", 3, TInt32.class, ROWS_BY_LENGTH); // [R, L]
    lossPositions = input(tf, "loss_positions", 4, TInt32.class, PREDICTIONS); // [Nc]
    lossTargets = input(tf, "loss_targets", 5, TInt32.class, PREDICTIONS); // [Nc]
    lossSequences = input(tf, "loss_seq", 6, TInt32.class, PREDICTIONS); // [Nc]
    numPairs = input(tf, "num_pairs", 7, TInt32.class, Shape.scalar()); // []
    numSequences = tf.math.mul(numPairs, tf.constant(2)); // [] = S
    labels = input(tf, "labels", 8, TFloat32.class, PREDICTIONS); // [P]
    modelIds = inputIds;
  }

  /** Input {@code i} in {@link BatchQueue#TYPES}' order: a placeholder, or the dequeued tensor with its shape. */
  private <T extends TType> Operand<T> input(Ops tf, String name, int i, Class<T> type, Shape shape) {
    return queue == null ? tf.withName(name).placeholder(type, Placeholder.shape(shape))
        : tf.withName(name).ensureShape(queue.<T>component(i), shape);
  }

  private BatchInputs(BatchInputs fed, Operand<TInt32> modelIds) {
    target = fed.target;
    queue = fed.queue;
    inputIds = fed.inputIds;
    positionIds = fed.positionIds;
    segmentIds = fed.segmentIds;
    branchIds = fed.branchIds;
    lossPositions = fed.lossPositions;
    lossTargets = fed.lossTargets;
    lossSequences = fed.lossSequences;
    numPairs = fed.numPairs;
    numSequences = fed.numSequences;
    labels = fed.labels;
    this.modelIds = modelIds;
  }

  /**
   * The same inputs (fed through the same placeholders), but a model's forward pass over them starts
   * only once {@code first} has been computed: every operation of the pass depends on the token ids
   * through the embedding lookup, and the ids wait for {@code first}. The live reference's forward
   * runs first this way, so its logits and temporaries are freed before the policy's activations
   * build up, instead of adding to their peak.
   */
  public BatchInputs after(Ops tf, Operand<?> first) {
    Operand<TInt32> ids = tf.withControlDependencies(List.of(first)).identity(inputIds); // [R, L]
    return new BatchInputs(this, ids);
  }

  /** Whether these inputs are the batches their replica's task lays out itself ({@link BatchQueue}). */
  public boolean laidOutByItsTask() {
    return queue != null;
  }

  /** How the log-probs over these inputs read the target logit. */
  public CompletionLogProbs.TargetLogit target() {
    return target;
  }

  /** Zeros, one per sequence {@code [S]}, shaped from the fed batch alone (no model, no gradient path). */
  public Operand<TFloat32> zerosPerSequence(Ops tf) {
    return dev.tfdpo.ops.Shapes.zeros(tf, tf.reshape(numSequences, tf.constant(new int[] {1})), TFloat32.class); // [S]
  }

  /** P, the number of pairs in the batch. */
  public Operand<TInt32> numPairs() {
    return numPairs;
  }

  /** Per-pair-slot labels {@code [P]} ({@link Batch#labels()}; zeros when the batch has none). */
  public Operand<TFloat32> labels() {
    return labels;
  }

  /** S = 2P, the number of sequences (chosen ones first). */
  public Operand<TInt32> numSequences() {
    return numSequences;
  }

  /**
   * Per-sequence completion log-probs {@code [S]} of {@code model} on the fed batch, in its compute
   * precision, for a forward-only pass (a reference).
   */
  public CompletionLogProbs.Result logProbs(Ops tf, Llama model) {
    return logProbs(tf, model, java.util.Map.of(), null, false);
  }

  /**
   * Per-sequence completion log-probs {@code [S]} of a trained {@code model}, the decoder's blocks recorded
   * on {@code tape} for a recomputing backward pass (null: none).
   */
  public CompletionLogProbs.Result logProbs(Ops tf, Llama model, Recompute tape) {
    return logProbs(tf, model, java.util.Map.of(), tape);
  }

  /**
   * Per-sequence completion log-probs {@code [S]} of {@code model} with LoRA {@code adapters} by
   * projection path ({@link dev.tfdpo.graphs.LoraAdapters#byModule}; empty: the plain model), for a
   * forward-only pass (a reference).
   */
  public CompletionLogProbs.Result logProbs(Ops tf, Llama model, java.util.Map<String, dev.tfdpo.ops.LowRank> adapters) {
    return logProbs(tf, model, adapters, null, false);
  }

  /**
   * Per-sequence completion log-probs {@code [S]} of the trained {@code model} with LoRA {@code adapters}
   * (empty: none), its blocks recorded on {@code tape} (null: none); a recomputed block uses the same
   * adapters. The per-token metrics run before the log-probs, which a backward pass follows.
   */
  public CompletionLogProbs.Result logProbs(
      Ops tf, Llama model, java.util.Map<String, dev.tfdpo.ops.LowRank> adapters, Recompute tape) {
    return logProbs(tf, model, adapters, tape, true);
  }

  private CompletionLogProbs.Result logProbs(Ops tf, Llama model, java.util.Map<String, dev.tfdpo.ops.LowRank> adapters,
      Recompute tape, boolean trained) {
    Llama.Inputs inputs = new Llama.Inputs(modelIds, positionIds, segmentIds, branchIds);
    Operand<TFloat32> hidden = model.hidden(tf, inputs, adapters, tape); // [R, L, H]
    return CompletionLogProbs.compute(tf, hidden, model.lmHead(), lossPositions, lossTargets, lossSequences,
        numSequences, model.compute(), target, trained);
  }

  /**
   * Feeds {@code batch} into {@code runner}; the returned tensors must stay open until the run is done.
   */
  public List<Tensor> feed(Session.Runner runner, Batch batch) {
    if (queue != null) { // the replica's task lays the batch out: only the request is fed
      return new ArrayList<>(List.of(queue.request(runner, batch)));
    }
    if (batch.isHeader()) {
      throw new IllegalArgumentException("a header batch (counts only, Batch.header) fed to a replica that "
          + "does not lay out its own batches: give it the laid-out batch");
    }
    List<Tensor> fed = tensors(batch);
    List<Operand<?>> inputs = List.of(inputIds, positionIds, segmentIds, branchIds, lossPositions, lossTargets,
        lossSequences, numPairs, labels);
    for (int i = 0; i < inputs.size(); i++) {
      runner.feed(inputs.get(i), fed.get(i));
    }
    return fed;
  }

  /** {@code batch}'s nine input tensors in {@link BatchQueue#TYPES}' order; the caller closes them. */
  static List<Tensor> tensors(Batch batch) {
    long[] shape = batch.shape();
    long[] predictions = {batch.lossPositions().length};
    float[] perPair = batch.labels() != null ? batch.labels() : new float[batch.numPairs()];
    List<Tensor> t = new ArrayList<>(9);
    t.add(Tensors.ints(shape, batch.inputIds()));
    t.add(Tensors.ints(shape, batch.positionIds()));
    t.add(Tensors.ints(shape, batch.segmentIds()));
    t.add(Tensors.ints(shape, batch.branchIds()));
    t.add(Tensors.ints(predictions, batch.lossPositions()));
    t.add(Tensors.ints(predictions, batch.lossTargets()));
    t.add(Tensors.ints(predictions, batch.lossSequences()));
    t.add(Tensors.scalar(batch.numPairs()));
    t.add(Tensors.floats(new long[] {perPair.length}, perPair));
    return t;
  }

  /** Closes tensors returned by {@link #feed}. */
  public static void close(List<Tensor> tensors) {
    tensors.forEach(Tensor::close);
  }
}
