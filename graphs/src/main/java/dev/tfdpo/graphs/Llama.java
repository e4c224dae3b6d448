package dev.tfdpo.graphs;

import dev.tfdpo.io.hf.LlamaConfig;
import dev.tfdpo.io.hf.LlamaWeights;
import dev.tfdpo.ops.Attention;
import dev.tfdpo.ops.AttentionMask;
import dev.tfdpo.ops.Layers;
import dev.tfdpo.ops.LowRank;
import dev.tfdpo.ops.Precision;
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
import org.tensorflow.types.family.TNumber;

/**
 * A Llama-family decoder (Llama 1-3, Mistral, Qwen2 biases) as a static graph, read top to bottom in
 * forward order.
 *
 * <p>Inputs are compact per-token descriptors ({@link Inputs}); the attention mask is built from them
 * inside the graph, so padded rows and packed rows use the same graph. Weights are {@code VariableV2}s
 * named {@code <scope>/<Hugging Face name>} in Hugging Face layout, float32, or bfloat16 for a frozen
 * model stored at half the memory ({@code fp16_opt_level} O2's reference). The matrix products run in
 * the model's compute {@link Precision}; norms, residuals and softmax stay float32.
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
  private final Precision storage;
  private final Precision compute;
  private final boolean bf16Embedding;
  private final Map<String, Variable<? extends TNumber>> variables;
  private final Map<String, Operand<? extends TNumber>> reads;
  private final QuantizedWeights quantized;

  private Llama(LlamaConfig config, String scope, Precision storage, Precision compute, boolean bf16Embedding,
      Map<String, Variable<? extends TNumber>> variables, Map<String, Operand<? extends TNumber>> reads,
      QuantizedWeights quantized) {
    this.config = config;
    this.scope = scope;
    this.storage = storage;
    this.compute = compute;
    this.bf16Embedding = bf16Embedding;
    this.variables = variables;
    this.reads = reads;
    this.quantized = quantized;
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

  /** Creates the model's float32 variables, named {@code scope/<Hugging Face name>}, computing in float32. */
  public static Llama create(GraphScopes scopes, LlamaConfig config, String scope) {
    return create(scopes, config, scope, Precision.FLOAT32, Precision.FLOAT32);
  }

  /**
   * {@link #create(GraphScopes, LlamaConfig, String, Precision, Precision, boolean)}, reading the embedding
   * rows in bfloat16 exactly when they are stored so.
   */
  public static Llama create(
      GraphScopes scopes, LlamaConfig config, String scope, Precision storage, Precision compute) {
    return create(scopes, config, scope, storage, compute, storage == Precision.BFLOAT16);
  }

  /**
   * Creates the model's variables, named {@code scope/<Hugging Face name>}.
   *
   * @param storage the matrices' type: FLOAT32, or BFLOAT16 for a frozen model (no gradient can reach
   *     float32 master weights through it; it needs {@code compute} BFLOAT16). Vectors (norm weights,
   *     biases) stay float32 either way: they are tiny, and are used in float32 ops.
   * @param compute the type of the forward pass's matrix products
   * @param bf16Embedding the embedding rows are read rounded to bfloat16 (bf16 O2: a float32 policy then
   *     reads exactly what a bfloat16-stored reference with the same weights reads, so the two agree
   *     bitwise at step 1 as in float32); implied by BFLOAT16 storage
   */
  public static Llama create(GraphScopes scopes, LlamaConfig config, String scope, Precision storage,
      Precision compute, boolean bf16Embedding) {
    return create(scopes, config, scope, storage, compute, bf16Embedding, null);
  }

  /**
   * {@link #create(GraphScopes, LlamaConfig, String, Precision, Precision, boolean)}; with {@code quantize}
   * (non-null), the layers' projection weights are stored quantized and each read dequantizes them to
   * float32 ({@link QuantizedWeights}; a frozen LoRA base only: they are not in {@link #variables()}).
   * Quantized storage needs float32 {@code storage} (the other weights' type).
   */
  public static Llama create(GraphScopes scopes, LlamaConfig config, String scope, Precision storage,
      Precision compute, boolean bf16Embedding, QuantizedWeights.Algo quantize) {
    if (quantize != null && storage != Precision.FLOAT32) {
      throw new IllegalArgumentException("model '" + scope + "': quantized weights (" + quantize
          + ") keep the other weights in float32, not " + storage);
    }
    if (storage == Precision.BFLOAT16 && !bf16Embedding) {
      throw new IllegalArgumentException("model '" + scope + "': a bfloat16-stored embedding is read in bfloat16");
    }
    if (storage == Precision.BFLOAT16 && compute != Precision.BFLOAT16) {
      throw new IllegalArgumentException(
          "model '" + scope + "': bfloat16-stored weights need bfloat16 compute (fp16_opt_level O2 implies bf16)");
    }
    Ops scoped = scopes.get(scope);
    Ops readScope = scopes.get(scope + "_read");
    Map<String, Variable<? extends TNumber>> vars = new LinkedHashMap<>();
    Map<String, Operand<? extends TNumber>> reads = new LinkedHashMap<>();
    Map<String, QuantizedWeights.Stored> stored = new LinkedHashMap<>();
    Map<String, long[]> quantShapes = new LinkedHashMap<>();
    for (LlamaWeights.Entry e : LlamaWeights.of(config).entries()) {
      if (quantize != null && QuantizedWeights.quantizes(e.hfName())) {
        QuantizedWeights.Stored q = QuantizedWeights.create(quantize, scoped, e.hfName(), e.shape());
        stored.put(e.hfName(), q);
        quantShapes.put(e.hfName(), e.shape());
        continue; // read by projection(): dequantized per use

      }
      Class<? extends TNumber> type = e.shape().length > 1 ? storage.type() : TFloat32.class;
      Variable<? extends TNumber> v = scoped.withName(e.hfName()).variable(Shape.of(e.shape()), type);
      vars.put(e.hfName(), v);
      // The forward pass reads through an Identity: gradients are taken with respect to these
      // plain (non-reference) tensors.
      reads.put(e.hfName(), readScope.withName(e.hfName()).identity(v));
    }
    QuantizedWeights quantized = quantize == null ? null
        : new QuantizedWeights(quantize, stored, quantShapes, scopes.get(WeightLoader.scopeName(scope)));
    return new Llama(config, scope, storage, compute, bf16Embedding, vars, reads, quantized);
  }

  /**
   * A second model with this one's layout, storage, products, embedding reading and quantization, its
   * variables named {@code scope/<Hugging Face name>}: a frozen model's copy on another task's device,
   * filled by {@link #copyFrom}, so a data-parallel replica there reads its weights locally instead of
   * across the network at every forward pass. Reserve {@link #scopeNames}{@code (scope)} first.
   */
  public Llama mirror(GraphScopes scopes, String scope) {
    return create(scopes, config, scope, storage, compute, bf16Embedding,
        quantized == null ? null : quantized.algo());
  }

  /**
   * Assignments of every variable of {@code source} (a model of the same layout, e.g. the one this is a
   * {@link #mirror} of) to this model's, the quantized codes and scales included.
   */
  public List<org.tensorflow.op.Op> copyFrom(Ops tf, Llama source) {
    List<org.tensorflow.op.Op> copies = new ArrayList<>();
    for (Map.Entry<String, Variable<? extends TNumber>> e : variables.entrySet()) {
      copies.add(assign(tf, e.getValue(), source.variables.get(e.getKey())));
    }
    if (quantized != null) {
      for (String name : quantized.names()) {
        QuantizedWeights.Stored to = quantized.stored(name);
        QuantizedWeights.Stored from = source.quantized.stored(name);
        copies.add(tf.assign(to.codes(), from.codes()));
        copies.add(tf.assign(to.scales(), from.scales()));
      }
    }
    return copies;
  }

  @SuppressWarnings("unchecked")
  private static <T extends TNumber> org.tensorflow.op.Op assign(Ops tf, Variable<T> to, Variable<?> from) {
    return tf.assign(to, (Variable<T>) from);
  }

  /** The quantized projection weights, or null when every weight is a variable. */
  public QuantizedWeights quantized() {
    return quantized;
  }

  /** The architecture. */
  public LlamaConfig config() {
    return config;
  }

  /** The variable scope ({@code policy}, {@code reference}, ...). */
  public String scope() {
    return scope;
  }

  /** The matrices' type: FLOAT32, or BFLOAT16 for a frozen model stored at half the memory (vectors: float32). */
  public Precision storage() {
    return storage;
  }

  /** The type of the forward pass's matrix products. */
  public Precision compute() {
    return compute;
  }

  /**
   * Float32 variables by Hugging Face name, in forward order (trainable, synced or checkpointed models);
   * a bfloat16-stored model has none: use {@link #storedVariables()}.
   */
  @SuppressWarnings("unchecked")
  public Map<String, Variable<TFloat32>> variables() {
    requireFloat32("variables");
    return (Map<String, Variable<TFloat32>>) (Map<String, ?>) variables;
  }

  /** Variables by Hugging Face name, in forward order: matrices of the {@link #storage()} type, vectors float32. */
  public Map<String, Variable<? extends TNumber>> storedVariables() {
    return variables;
  }

  /**
   * The float32 tensors the forward pass reads, by Hugging Face name: differentiate with respect to
   * these (a bfloat16-stored model is frozen and has none).
   */
  @SuppressWarnings("unchecked")
  public Map<String, Operand<TFloat32>> reads() {
    requireFloat32("float32 reads to differentiate");
    return (Map<String, Operand<TFloat32>>) (Map<String, ?>) reads;
  }

  private void requireFloat32(String what) {
    if (storage != Precision.FLOAT32) {
      throw new IllegalStateException("model '" + scope + "' is stored in " + storage
          + " (frozen): it has no float32 " + what);
    }
  }

  private Operand<? extends TNumber> w(String hfName) {
    Operand<? extends TNumber> v = reads.get(hfName);
    if (v == null) {
      throw new IllegalStateException("no variable for " + hfName + " in scope " + scope);
    }
    return v;
  }

  /**
   * Projection weight {@code hfName} as a block reads it: a quantized one is dequantized here, in {@code
   * tf}, for this use alone, once the block's input {@code after} exists. Each forward pass and each
   * recomputed block so dequantizes its own copy, which lives only as long as that block needs it (shared,
   * one dequantized float32 copy of every weight stayed alive through the whole step; and an operation that
   * reads only variables is ready at the start of the run, so without {@code after} every layer's copy
   * was made at once and held until its block ran).
   */
  private Operand<? extends TNumber> projection(Ops tf, String hfName, Operand<?> after) {
    QuantizedWeights.Stored q = quantized == null ? null : quantized.stored(hfName);
    return q == null ? w(hfName) : q.dequantize(tf.withControlDependencies(List.of(after))); // [out, in]
  }

  private Operand<? extends TNumber> bias(String hfName, boolean present) {
    return present ? w(hfName) : null;
  }

  /** The output projection {@code [V, H]} as stored: the embedding matrix when tied. */
  public Operand<? extends TNumber> lmHead() {
    return config.tieWordEmbeddings() ? w("model.embed_tokens.weight") : w("lm_head.weight");
  }

  /**
   * The decoder up to and including the final RMSNorm.
   *
   * @return {@code [R, L, H]}
   */
  public Operand<TFloat32> hidden(Ops tf, Inputs in) {
    return hidden(tf, in, Map.of(), null);
  }

  /**
   * The decoder up to and including the final RMSNorm, its blocks recorded on {@code tape} for a
   * recomputing backward pass ({@link Recompute}); null: plain forward.
   *
   * @return {@code [R, L, H]}
   */
  public Operand<TFloat32> hidden(Ops tf, Inputs in, Recompute tape) {
    return hidden(tf, in, Map.of(), tape);
  }

  /**
   * The decoder with LoRA adapters: each projection named in {@code adapters} (by its Hugging Face path,
   * {@code model.layers.i.self_attn.q_proj}; see {@link LoraAdapters#byModule}) adds its low-rank term,
   * computed in this model's {@link #compute()} precision (the adapters themselves stay float32).
   *
   * @return {@code [R, L, H]}
   */
  public Operand<TFloat32> hidden(Ops tf, Inputs in, Map<String, LowRank> adapters) {
    return hidden(tf, in, adapters, null);
  }

  /**
   * The decoder with LoRA {@code adapters} (empty: none), its blocks recorded on {@code tape} (null: plain
   * forward). A recomputed block is rebuilt by the same methods, so it uses the same adapters; with
   * adapters the base is frozen (LoRA), and each block's gradient call takes only the adapters it reads.
   *
   * @return {@code [R, L, H]}
   */
  public Operand<TFloat32> hidden(Ops tf, Inputs in, Map<String, LowRank> adapters, Recompute tape) {
    Context ctx = context(tf, in, adapters);
    Operand<TInt32> flatIds = tf.reshape(in.inputIds(), tf.constant(new int[] {-1})); // [N]
    Operand<TFloat32> x;
    if (tape == null) {
      x = embed(tf, flatIds); // [N, H]
      for (int i = 0; i < config.numHiddenLayers(); i++) {
        x = decoderLayer(tf, x, i, ctx); // [N, H]
      }
    } else {
      // Only a trainable (float32-stored) model records blocks: float32() refuses a bfloat16-stored one.
      x = tape.block(tf, List.of(), baseWeights(ctx, "model.embed_tokens.weight"), false,
          (t, none) -> List.of(embed(t, flatIds))).get(0); // [N, H]
      for (int i = 0; i < config.numHiddenLayers(); i++) {
        x = recordedLayer(tf, tape, x, i, ctx); // [N, H]
      }
      String head = config.tieWordEmbeddings() ? "model.embed_tokens.weight" : "lm_head.weight";
      x = tape.exit(tf, x, baseWeights(ctx, "model.norm.weight", head)); // [N, H]
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
   * @param adapters LoRA adapters by projection path (empty: none)
   */
  private record Context(Operand<TInt32> rowsAndLength, Operand<TFloat32> maskBias, Rope.Tables rope,
      Attention.Heads heads, float eps, Map<String, LowRank> adapters) {}

  private Context context(Ops tf, Inputs in, Map<String, LowRank> adapters) {
    LlamaConfig c = config;
    Attention.Heads heads = new Attention.Heads(c.numAttentionHeads(), c.numKeyValueHeads(), c.headDim());
    Operand<TInt32> rowsAndLength = Shapes.leading(tf, in.inputIds(), 2); // [2] = (R, L)
    Operand<TFloat32> maskBias = AttentionMask.bias(tf, in.segmentIds(), in.branchIds()); // [R, 1, L, L]
    Rope.Tables rope =
        Rope.tables(tf, in.positionIds(), c.rope().inverseFrequencies(c.headDim())); // [R, L, 1, D] x2
    return new Context(rowsAndLength, maskBias, rope, heads, (float) c.rmsNormEps(), adapters);
  }

  /** Decoder layer {@code i}: {@code mlpBlock(attentionBlock(x))}, {@code [N, H]} to {@code [N, H]}. */
  private Operand<TFloat32> decoderLayer(Ops tf, Operand<TFloat32> x, int i, Context ctx) {
    return mlpBlock(tf, attentionBlock(tf, x, i, ctx), i, ctx); // [N, H]
  }

  /** {@code x + attention(rmsNorm(x))}, {@code [N, H]}. */
  private Operand<TFloat32> attentionBlock(Ops tf, Operand<TFloat32> x, int i, Context ctx) {
    Operand<TFloat32> attnIn = attentionInput(tf, x, i, ctx); // [N, H]
    Operand<TFloat32> attnOut = Attention.selfAttention(
        tf, attnIn, ctx.rowsAndLength(), attentionWeights(tf, i, attnIn), ctx.heads(), ctx.rope(), ctx.maskBias(),
        compute, attentionAdapters(i, ctx)); // [N, H]
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
            projection(tf, p + "mlp.gate_proj.weight", mlpIn), bias(p + "mlp.gate_proj.bias", b),
            projection(tf, p + "mlp.up_proj.weight", mlpIn), bias(p + "mlp.up_proj.bias", b),
            projection(tf, p + "mlp.down_proj.weight", mlpIn), bias(p + "mlp.down_proj.bias", b),
            compute,
            new Layers.MlpAdapters(ctx.adapters().get(p + "mlp.gate_proj"), ctx.adapters().get(p + "mlp.up_proj"),
                ctx.adapters().get(p + "mlp.down_proj"))); // [N, H]
    return tf.math.add(x, mlpOut); // [N, H]
  }

  /**
   * Layer {@code i} as blocks on {@code tape}: what {@link Recompute.Granularity} names is recomputed,
   * the rest is differentiated in place. A recomputed copy runs in the same compute {@link Precision}
   * as the first forward (the same methods build both).
   */
  private Operand<TFloat32> recordedLayer(Ops tf, Recompute tape, Operand<TFloat32> x, int i, Context ctx) {
    String p = layer(i);
    List<Operand<TFloat32>> attnW = weights(ctx, p, "input_layernorm.", "self_attn.");
    List<Operand<TFloat32>> mlpW = weights(ctx, p, "post_attention_layernorm.", "mlp.");
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
        Attention.Weights aw = attentionWeights(tf, i, x);
        Attention.Adapters aa = attentionAdapters(i, ctx);
        List<Operand<TFloat32>> qkv = tape.block(tf, List.of(x), weights(ctx, p, "input_layernorm.",
                "self_attn.q_proj.", "self_attn.k_proj.", "self_attn.v_proj."), false,
            (t, in) -> Attention.project(t, attentionInput(t, in.get(0), i, ctx), ctx.rowsAndLength(), aw,
                ctx.heads(), ctx.rope(), compute, aa).asList()); // [R, Hkv, G, L, D], [R, Hkv, L, D] x2
        Operand<TFloat32> merged = tape.block(tf, qkv, List.of(), true, (t, in) -> List.of(Attention.core(t,
            new Attention.Projected(in.get(0), in.get(1), in.get(2)), ctx.rowsAndLength(), ctx.heads(),
            ctx.maskBias(), compute))).get(0); // [N, Hq*D]
        Operand<TFloat32> h = tape.block(tf, List.of(x, merged), weights(ctx, p, "self_attn.o_proj."), false,
            (t, in) -> List.of(t.math.add(in.get(0), Attention.output(t, in.get(1), aw, compute, aa)))).get(0); // [N, H]
        return tape.block(tf, h, mlpW, false, (t, in) -> List.of(mlpBlock(t, in.get(0), i, ctx))); // [N, H]
      }
      default -> throw new IllegalStateException("unhandled granularity " + tape.granularity());
    }
  }

  private static String layer(int i) {
    return "model.layers." + i + ".";
  }

  /** Layer {@code i}'s attention weights, quantized ones dequantized once {@code after} exists. */
  private Attention.Weights attentionWeights(Ops tf, int i, Operand<?> after) {
    String p = layer(i) + "self_attn.";
    boolean b = config.attentionBias();
    return new Attention.Weights(
        projection(tf, p + "q_proj.weight", after), bias(p + "q_proj.bias", b),
        projection(tf, p + "k_proj.weight", after), bias(p + "k_proj.bias", b),
        projection(tf, p + "v_proj.weight", after), bias(p + "v_proj.bias", b),
        projection(tf, p + "o_proj.weight", after), bias(p + "o_proj.bias", b));
  }

  private static Attention.Adapters attentionAdapters(int i, Context ctx) {
    String p = layer(i) + "self_attn.";
    Map<String, LowRank> a = ctx.adapters();
    return new Attention.Adapters(a.get(p + "q_proj"), a.get(p + "k_proj"), a.get(p + "v_proj"), a.get(p + "o_proj"));
  }

  /** Float32 reads of the named base weights when they are trained (no adapters); none under LoRA. */
  private List<Operand<TFloat32>> baseWeights(Context ctx, String... hfNames) {
    List<Operand<TFloat32>> out = new ArrayList<>();
    if (ctx.adapters().isEmpty()) {
      for (String name : hfNames) {
        out.add(float32(name));
      }
    }
    return out;
  }

  /** A float32 weight read, for a block's gradient call (a trainable model's; others have none). */
  @SuppressWarnings("unchecked")
  private Operand<TFloat32> float32(String hfName) {
    requireFloat32("float32 reads to differentiate");
    return (Operand<TFloat32>) w(hfName);
  }

  /**
   * What a block of layer {@code p} under the given name prefixes differentiates: the layer's weights
   * (weight, then bias when present), or with LoRA adapters only the adapters' A and B there (the base
   * is frozen).
   */
  private List<Operand<TFloat32>> weights(Context ctx, String p, String... parts) {
    List<Operand<TFloat32>> out = new ArrayList<>();
    if (!ctx.adapters().isEmpty()) {
      for (String part : parts) {
        for (String module : ADAPTABLE) {
          LowRank a = ctx.adapters().get(p + module);
          if ((module + ".").startsWith(part) && a != null) {
            out.add(a.a());
            out.add(a.b());
          }
        }
      }
      return out;
    }
    for (String part : parts) {
      for (String leaf : LAYER_LEAVES) {
        if (leaf.startsWith(part)) {
          if (reads.containsKey(p + leaf)) {
            out.add(float32(p + leaf));
          }
        }
      }
    }
    return out;
  }

  /** The projections a LoRA adapter may sit on, after {@code model.layers.<i>.}. */
  private static final List<String> ADAPTABLE = List.of("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj",
      "self_attn.o_proj", "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj");

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
   * Embedding rows of {@code ids}, {@code [N, H]} float32. A bfloat16-stored embedding is gathered in
   * bfloat16 (half the bytes read); a float32 one with bf16 embedding reads is gathered in float32 and
   * rounded (the same values, while the gradient's scatter-add stays float32).
   */
  private Operand<TFloat32> embed(Ops tf, Operand<TInt32> ids) {
    Operand<? extends TNumber> rows = tf.gather(w("model.embed_tokens.weight"), ids, tf.constant(0)); // [N, H]
    if (bf16Embedding) {
      rows = Precision.BFLOAT16.cast(tf, rows); // [N, H]
    }
    return Precision.float32(tf, rows); // [N, H]
  }

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
    Operand<TFloat32> projected = Layers.linear(tf, flat, lmHead(), null, compute); // [N, V]
    return tf.reshape(projected, Shapes.concat(tf, rowsAndLength, config.vocabSize())); // [R, L, V]
  }
}
