package dev.tfdpo.graphs;

import dev.tfdpo.io.hf.LlamaConfig;
import dev.tfdpo.io.hf.LlamaWeights;
import dev.tfdpo.ops.Attention;
import dev.tfdpo.ops.AttentionMask;
import dev.tfdpo.ops.Layers;
import dev.tfdpo.ops.Rope;
import dev.tfdpo.ops.Shapes;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.tensorflow.Operand;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Variable;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt32;

/**
 * A Llama-family decoder (Llama 1-3, Mistral, Qwen2 biases) as a static graph, read top to bottom in
 * forward order.
 *
 * <p>Inputs are compact per-token descriptors ({@link Inputs}); the attention mask is built from them
 * inside the graph, so padded rows and packed rows use the same graph. Weights are float32
 * {@code VariableV2}s named {@code <scope>/<Hugging Face name>} in Hugging Face layout.
 */
public final class Llama {

  /**
   * Per-token inputs, each {@code [R, L]} int32.
   *
   * @param inputIds token ids
   * @param positionIds RoPE positions
   * @param segmentIds sequence id of each token, 0 on padding
   * @param branchIds 0 on shared tokens; 1 and 2 for alternatives that must not see each other
   */
  public record Inputs(
      Operand<TInt32> inputIds,
      Operand<TInt32> positionIds,
      Operand<TInt32> segmentIds,
      Operand<TInt32> branchIds) {}

  private final LlamaConfig config;
  private final String scope;
  private final Map<String, Variable<TFloat32>> variables;
  private final Map<String, Operand<TFloat32>> reads;

  private Llama(
      LlamaConfig config,
      String scope,
      Map<String, Variable<TFloat32>> variables,
      Map<String, Operand<TFloat32>> reads) {
    this.config = config;
    this.scope = scope;
    this.variables = variables;
    this.reads = reads;
  }

  /**
   * The sub-scopes a model named {@code scope} and its {@link WeightLoader} use: reserve them with
   * {@link GraphScopes#reserve} before the graph grows.
   */
  public static List<String> scopeNames(String scope) {
    return List.of(scope, scope + "_read", WeightLoader.scopeName(scope));
  }

  /**
   * Creates the model's variables, named {@code scope/<Hugging Face name>}, in a graph whose scopes
   * are created on first use (for small graphs and tests; see {@link GraphScopes}).
   */
  public static Llama create(Ops tf, LlamaConfig config, String scope) {
    return create(GraphScopes.of(tf), config, scope);
  }

  /** Creates the model's variables, named {@code scope/<Hugging Face name>}. */
  public static Llama create(GraphScopes scopes, LlamaConfig config, String scope) {
    Ops scoped = scopes.get(scope);
    Ops readScope = scopes.get(scope + "_read");
    Map<String, Variable<TFloat32>> vars = new LinkedHashMap<>();
    Map<String, Operand<TFloat32>> reads = new LinkedHashMap<>();
    for (LlamaWeights.Entry e : LlamaWeights.of(config).entries()) {
      Variable<TFloat32> v = scoped.withName(e.hfName()).variable(Shape.of(e.shape()), TFloat32.class);
      vars.put(e.hfName(), v);
      // The forward pass reads through an Identity: gradients are taken with respect to these
      // plain (non-reference) tensors.
      reads.put(e.hfName(), readScope.withName(e.hfName()).identity(v));
    }
    return new Llama(config, scope, vars, reads);
  }

  /** The architecture. */
  public LlamaConfig config() {
    return config;
  }

  /** The variable scope ({@code policy}, {@code reference}, ...). */
  public String scope() {
    return scope;
  }

  /** Variables by Hugging Face name, in forward order. */
  public Map<String, Variable<TFloat32>> variables() {
    return variables;
  }

  /** The tensors the forward pass reads, by Hugging Face name: differentiate with respect to these. */
  public Map<String, Operand<TFloat32>> reads() {
    return reads;
  }

  private Operand<TFloat32> w(String hfName) {
    Operand<TFloat32> v = reads.get(hfName);
    if (v == null) {
      throw new IllegalStateException("no variable for " + hfName + " in scope " + scope);
    }
    return v;
  }

  private Operand<TFloat32> bias(String hfName, boolean present) {
    return present ? w(hfName) : null;
  }

  /** The output projection {@code [V, H]}: the embedding matrix when tied. */
  public Operand<TFloat32> lmHead() {
    return config.tieWordEmbeddings() ? w("model.embed_tokens.weight") : w("lm_head.weight");
  }

  /**
   * The decoder up to and including the final RMSNorm.
   *
   * @return {@code [R, L, H]}
   */
  public Operand<TFloat32> hidden(Ops tf, Inputs in) {
    return hidden(tf, in, null);
  }

  /**
   * The decoder up to and including the final RMSNorm, its blocks recorded on {@code tape} for a
   * recomputing backward pass ({@link Recompute}); null: plain forward.
   *
   * @return {@code [R, L, H]}
   */
  public Operand<TFloat32> hidden(Ops tf, Inputs in, Recompute tape) {
    Context ctx = context(tf, in);
    Operand<TInt32> flatIds = tf.reshape(in.inputIds(), tf.constant(new int[] {-1})); // [N]
    Operand<TFloat32> embed = w("model.embed_tokens.weight"); // [V, H]
    Operand<TFloat32> x;
    if (tape == null) {
      x = tf.gather(embed, flatIds, tf.constant(0)); // [N, H]
      for (int i = 0; i < config.numHiddenLayers(); i++) {
        x = decoderLayer(tf, x, i, ctx); // [N, H]
      }
    } else {
      x = tape.block(tf, List.of(), List.of(embed), false,
          (t, none) -> List.of(t.gather(embed, flatIds, t.constant(0)))).get(0); // [N, H]
      for (int i = 0; i < config.numHiddenLayers(); i++) {
        x = recordedLayer(tf, tape, x, i, ctx); // [N, H]
      }
      x = tape.exit(tf, x, List.of(w("model.norm.weight"), lmHead())); // [N, H]
    }
    Operand<TFloat32> normed = Layers.rmsNorm(tf, x, w("model.norm.weight"), ctx.eps()); // [N, H]
    return tf.reshape(normed, Shapes.concat(tf, ctx.rowsAndLength(), config.hiddenSize())); // [R, L, H]
  }

  /**
   * What every layer reads besides its weights and hidden states, built once per forward pass.
   *
   * @param rowsAndLength {@code [2]} = (R, L)
   * @param maskBias {@code [R, 1, L, L]}
   * @param rope cos/sin tables, {@code [R, L, 1, D]} each
   */
  private record Context(
      Operand<TInt32> rowsAndLength, Operand<TFloat32> maskBias, Rope.Tables rope, Attention.Heads heads, float eps) {}

  private Context context(Ops tf, Inputs in) {
    LlamaConfig c = config;
    Attention.Heads heads = new Attention.Heads(c.numAttentionHeads(), c.numKeyValueHeads(), c.headDim());
    Operand<TInt32> rowsAndLength = Shapes.leading(tf, in.inputIds(), 2); // [2] = (R, L)
    Operand<TFloat32> maskBias = AttentionMask.bias(tf, in.segmentIds(), in.branchIds()); // [R, 1, L, L]
    Rope.Tables rope =
        Rope.tables(tf, in.positionIds(), c.rope().inverseFrequencies(c.headDim())); // [R, L, 1, D] x2
    return new Context(rowsAndLength, maskBias, rope, heads, (float) c.rmsNormEps());
  }

  /** Decoder layer {@code i}: {@code mlpBlock(attentionBlock(x))}, {@code [N, H]} to {@code [N, H]}. */
  private Operand<TFloat32> decoderLayer(Ops tf, Operand<TFloat32> x, int i, Context ctx) {
    return mlpBlock(tf, attentionBlock(tf, x, i, ctx), i, ctx); // [N, H]
  }

  /** {@code x + attention(rmsNorm(x))}, {@code [N, H]}. */
  private Operand<TFloat32> attentionBlock(Ops tf, Operand<TFloat32> x, int i, Context ctx) {
    Operand<TFloat32> attnIn = attentionInput(tf, x, i, ctx); // [N, H]
    Operand<TFloat32> attnOut = Attention.selfAttention(
        tf, attnIn, ctx.rowsAndLength(), attentionWeights(i), ctx.heads(), ctx.rope(), ctx.maskBias()); // [N, H]
    return tf.math.add(x, attnOut); // [N, H]
  }

  private Operand<TFloat32> attentionInput(Ops tf, Operand<TFloat32> x, int i, Context ctx) {
    return Layers.rmsNorm(tf, x, w(layer(i) + "input_layernorm.weight"), ctx.eps()); // [N, H]
  }

  /** {@code x + swiGlu(rmsNorm(x))}, {@code [N, H]}. */
  private Operand<TFloat32> mlpBlock(Ops tf, Operand<TFloat32> x, int i, Context ctx) {
    String p = layer(i);
    boolean b = config.mlpBias();
    Operand<TFloat32> mlpIn = Layers.rmsNorm(tf, x, w(p + "post_attention_layernorm.weight"), ctx.eps()); // [N, H]
    Operand<TFloat32> mlpOut =
        Layers.swiGlu(
            tf,
            mlpIn,
            w(p + "mlp.gate_proj.weight"), bias(p + "mlp.gate_proj.bias", b),
            w(p + "mlp.up_proj.weight"), bias(p + "mlp.up_proj.bias", b),
            w(p + "mlp.down_proj.weight"), bias(p + "mlp.down_proj.bias", b)); // [N, H]
    return tf.math.add(x, mlpOut); // [N, H]
  }

  /**
   * Layer {@code i} as blocks on {@code tape}: what {@link Recompute.Granularity} names is recomputed,
   * the rest is differentiated in place.
   */
  private Operand<TFloat32> recordedLayer(Ops tf, Recompute tape, Operand<TFloat32> x, int i, Context ctx) {
    String p = layer(i);
    List<Operand<TFloat32>> attnW = weights(p, "input_layernorm.", "self_attn.");
    List<Operand<TFloat32>> mlpW = weights(p, "post_attention_layernorm.", "mlp.");
    switch (tape.granularity()) {
      case FULL -> {
        List<Operand<TFloat32>> all = new ArrayList<>(attnW);
        all.addAll(mlpW);
        return tape.block(tf, x, all, true, (t, in) -> List.of(decoderLayer(t, in.get(0), i, ctx))); // [N, H]
      }
      case FULL_ATTN -> {
        Operand<TFloat32> h =
            tape.block(tf, x, attnW, true, (t, in) -> List.of(attentionBlock(t, in.get(0), i, ctx))); // [N, H]
        return tape.block(tf, h, mlpW, false, (t, in) -> List.of(mlpBlock(t, in.get(0), i, ctx))); // [N, H]
      }
      case CORE_ATTN -> {
        Attention.Weights aw = attentionWeights(i);
        List<Operand<TFloat32>> qkv = tape.block(tf, List.of(x), weights(p, "input_layernorm.",
                "self_attn.q_proj.", "self_attn.k_proj.", "self_attn.v_proj."), false,
            (t, in) -> Attention.project(t, attentionInput(t, in.get(0), i, ctx), ctx.rowsAndLength(), aw,
                ctx.heads(), ctx.rope()).asList()); // [R, Hkv, G, L, D], [R, Hkv, L, D] x2
        Operand<TFloat32> merged = tape.block(tf, qkv, List.of(), true, (t, in) -> List.of(Attention.core(t,
            new Attention.Projected(in.get(0), in.get(1), in.get(2)), ctx.rowsAndLength(), ctx.heads(),
            ctx.maskBias()))).get(0); // [N, Hq*D]
        Operand<TFloat32> h = tape.block(tf, List.of(x, merged), weights(p, "self_attn.o_proj."), false,
            (t, in) -> List.of(t.math.add(in.get(0), Attention.output(t, in.get(1), aw)))).get(0); // [N, H]
        return tape.block(tf, h, mlpW, false, (t, in) -> List.of(mlpBlock(t, in.get(0), i, ctx))); // [N, H]
      }
      default -> throw new IllegalStateException("unhandled granularity " + tape.granularity());
    }
  }

  private static String layer(int i) {
    return "model.layers." + i + ".";
  }

  private Attention.Weights attentionWeights(int i) {
    String p = layer(i) + "self_attn.";
    boolean b = config.attentionBias();
    return new Attention.Weights(
        w(p + "q_proj.weight"), bias(p + "q_proj.bias", b),
        w(p + "k_proj.weight"), bias(p + "k_proj.bias", b),
        w(p + "v_proj.weight"), bias(p + "v_proj.bias", b),
        w(p + "o_proj.weight"), bias(p + "o_proj.bias", b));
  }

  /** The reads of layer {@code p}'s weights under the given name prefixes (weight, then bias when present). */
  private List<Operand<TFloat32>> weights(String p, String... parts) {
    List<Operand<TFloat32>> out = new ArrayList<>();
    for (String part : parts) {
      for (String leaf : LAYER_LEAVES) {
        if (leaf.startsWith(part)) {
          Operand<TFloat32> v = reads.get(p + leaf);
          if (v != null) {
            out.add(v);
          }
        }
      }
    }
    return out;
  }

  /** Every per-layer weight name a Llama-family layer may have, after {@code model.layers.<i>.}. */
  private static final List<String> LAYER_LEAVES = List.of(
      "input_layernorm.weight",
      "self_attn.q_proj.weight", "self_attn.q_proj.bias",
      "self_attn.k_proj.weight", "self_attn.k_proj.bias",
      "self_attn.v_proj.weight", "self_attn.v_proj.bias",
      "self_attn.o_proj.weight", "self_attn.o_proj.bias",
      "post_attention_layernorm.weight",
      "mlp.gate_proj.weight", "mlp.gate_proj.bias",
      "mlp.up_proj.weight", "mlp.up_proj.bias",
      "mlp.down_proj.weight", "mlp.down_proj.bias");

  /**
   * Full-vocabulary logits of every position, for inference and export; training uses
   * {@link dev.tfdpo.ops.CompletionLogProbs}, which projects completion positions only.
   *
   * @param hidden {@code [R, L, H]}
   * @return {@code [R, L, V]}
   */
  public Operand<TFloat32> logits(Ops tf, Operand<TFloat32> hidden) {
    Operand<TInt32> rowsAndLength = Shapes.leading(tf, hidden, 2); // [2]
    Operand<TFloat32> flat =
        tf.reshape(hidden, tf.constant(new int[] {-1, config.hiddenSize()})); // [N, H]
    Operand<TFloat32> projected = Layers.linear(tf, flat, lmHead(), null); // [N, V]
    return tf.reshape(projected, Shapes.concat(tf, rowsAndLength, config.vocabSize())); // [R, L, V]
  }
}
