package dev.tfdpo.graphs.serving;

import dev.tfdpo.graphs.GraphScopes;
import dev.tfdpo.graphs.Llama;
import dev.tfdpo.graphs.Sessions;
import dev.tfdpo.graphs.Tensors;
import dev.tfdpo.graphs.WeightLoader;
import dev.tfdpo.io.hf.LlamaConfig;
import dev.tfdpo.io.hf.RewardModelExport;
import dev.tfdpo.io.safetensors.SafeTensorsReader;
import dev.tfdpo.ops.Layers;
import java.io.IOException;
import java.util.List;
import java.util.Set;
import org.tensorflow.Graph;
import org.tensorflow.Operand;
import org.tensorflow.Session;
import org.tensorflow.Signature;
import org.tensorflow.Tensor;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.op.Op;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Placeholder;
import org.tensorflow.op.core.Variable;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt32;

/**
 * A reward model's inference graph, exported as a SavedModel with one signature:
 *
 * <ul>
 *   <li>{@value #SCORE}: {@code input_ids}, {@code attention_mask} {@code [B, L]} int32 to {@code score}
 *       {@code [B]} float32, what transformers' {@code LlamaForSequenceClassification} returns as its
 *       logits: the final hidden state at each row's last token whose id is not {@code pad_token_id}, times
 *       {@code score.weight}. Attention is causal over the tokens with mask 1; positions count from 0 at the
 *       first column, as transformers' default position ids do (so right padding gives the training
 *       graph's numbers).
 * </ul>
 */
public final class RewardServingGraph implements AutoCloseable {

  /** The signature's name. */
  public static final String SCORE = "score";

  private final Graph graph;
  private final Session session;
  private final WeightLoader loader;
  private final Variable<TFloat32> head;
  private final Placeholder<TFloat32> headValue;
  private final Op headAssign;
  private final Placeholder<TInt32> inputIds;
  private final Placeholder<TInt32> attentionMask;
  private final Operand<TFloat32> scores;
  private final Signature signature;
  private final int hidden;

  private RewardServingGraph(LlamaConfig config, int padTokenId) {
    LlamaConfig c = RewardModelExport.backbone(config);
    hidden = c.hiddenSize();
    graph = new Graph();
    Ops tf = GraphScopes.root(graph);
    List<String> names = new java.util.ArrayList<>(Llama.scopeNames("model"));
    names.addAll(List.of("score", "forward"));
    GraphScopes scopes = GraphScopes.of(tf).reserve(names);
    Llama model = Llama.create(scopes, c, "model");
    loader = WeightLoader.create(scopes, model);
    Ops scoreOps = scopes.get("score");
    head = scoreOps.withName(RewardModelExport.SCORE).variable(Shape.of(1, hidden), TFloat32.class); // [1, H]
    headValue = scoreOps.withName("value").placeholder(TFloat32.class, Placeholder.shape(Shape.of(1, hidden))); // [1, H]
    headAssign = scoreOps.withName("load").assign(head, headValue);

    Shape rowsByLength = Shape.of(Shape.UNKNOWN_SIZE, Shape.UNKNOWN_SIZE);
    inputIds = tf.withName("input_ids").placeholder(TInt32.class, Placeholder.shape(rowsByLength)); // [B, L]
    attentionMask = tf.withName("attention_mask").placeholder(TInt32.class, Placeholder.shape(rowsByLength)); // [B, L]
    Ops f = scopes.get("forward");
    Operand<TInt32> zeros = f.zerosLike(inputIds); // [B, L]
    Operand<TInt32> length = f.gather(f.shape(inputIds), f.constant(1), f.constant(0)); // []
    Operand<TInt32> columns = f.range(f.constant(0), length, f.constant(1)); // [L]
    Operand<TInt32> positionIds = f.math.add(zeros, f.expandDims(columns, f.constant(0))); // [B, L]
    Operand<TFloat32> states =
        model.hidden(f, new Llama.Inputs(inputIds, positionIds, attentionMask, zeros)); // [B, L, H]
    // transformers: argmax over (column * [id != pad]) = the rightmost non-pad column (0 when none).
    Operand<TInt32> notPad = f.dtypes.cast(f.math.notEqual(inputIds, f.constant(padTokenId)), TInt32.class); // [B, L]
    Operand<TInt32> last = f.dtypes.cast(
        f.math.argMax(f.math.mul(positionIds, notPad), f.constant(1)), TInt32.class); // [B]
    Operand<TInt32> rowsCount = f.gather(f.shape(inputIds), f.constant(0), f.constant(0)); // []
    Operand<TInt32> flatIndex =
        f.math.add(f.math.mul(f.range(f.constant(0), rowsCount, f.constant(1)), length), last); // [B]
    Operand<TFloat32> flat = f.reshape(states, f.constant(new int[] {-1, hidden})); // [B*L, H]
    Operand<TFloat32> picked = f.gather(flat, flatIndex, f.constant(0)); // [B, H]
    Operand<TFloat32> projected = Layers.linear(f, picked, f.identity(head), null); // [B, 1]
    scores = tf.withName("score").reshape(projected, tf.constant(new int[] {-1})); // [B]
    signature = Signature.builder().key(SCORE).methodName(ServingGraph.METHOD)
        .input("input_ids", inputIds).input("attention_mask", attentionMask).output("score", scores).build();
    session = new Session(graph, Sessions.config(0));
  }

  /** Builds the graph; {@code padTokenId} is the config's {@code pad_token_id}. */
  public static RewardServingGraph build(LlamaConfig config, int padTokenId) {
    return new RewardServingGraph(config, padTokenId);
  }

  /** Loads a sequence-classification checkpoint (backbone and {@code score.weight}). */
  public void load(SafeTensorsReader weights) throws IOException {
    if (!weights.contains(RewardModelExport.SCORE)) {
      throw new IOException(weights.source() + ": no " + RewardModelExport.SCORE
          + "; a reward model's checkpoint has the head (export the trained reward model, not a causal LM)");
    }
    loader.load(session, weights, Set.of(RewardModelExport.SCORE));
    float[] value = weights.readFloats(RewardModelExport.SCORE);
    if (value.length != hidden) {
      throw new IOException(weights.source() + ": " + RewardModelExport.SCORE + " has " + value.length
          + " values; a one-label head has hidden_size " + hidden);
    }
    try (Tensor t = Tensors.floats(new long[] {1, hidden}, value)) {
      session.runner().feed(headValue, t).addTarget(headAssign).run();
    }
  }

  /** Scores rows {@code [B, L]} (row-major) with their attention mask. */
  public float[] score(int rows, int length, int[] ids, int[] mask) {
    try (Tensor i = Tensors.ints(new long[] {rows, length}, ids);
        Tensor m = Tensors.ints(new long[] {rows, length}, mask);
        var result = session.runner().feed(inputIds, i).feed(attentionMask, m).fetch(scores).run()) {
      return Tensors.toFloats(result.get(0));
    }
  }

  public Session session() {
    return session;
  }

  /** The SavedModel's signatures. */
  public List<Signature> signatures() {
    return List.of(signature);
  }

  @Override
  public void close() {
    session.close();
    graph.close();
  }
}
