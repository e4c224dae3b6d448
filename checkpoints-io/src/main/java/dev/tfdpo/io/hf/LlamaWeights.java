package dev.tfdpo.io.hf;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The one table between graph variables and Hugging Face tensor names for a Llama model.
 *
 * <p>Graph variables carry the Hugging Face name itself under a scope ({@code policy/...},
 * {@code reference/...}), and every tensor keeps its Hugging Face layout ({@code [out, in]} for
 * projections), so loading and saving never transpose. A tied model has no {@code lm_head.weight}.
 */
public final class LlamaWeights {

  /** Role of a tensor; decides weight decay (torch/TRL: no decay on norms and biases). */
  public enum Kind {
    EMBEDDING,
    PROJECTION,
    BIAS,
    NORM;

    /** Whether AdamW's decoupled weight decay applies, as in transformers' parameter groups. */
    public boolean decays() {
      return this == EMBEDDING || this == PROJECTION;
    }
  }

  /** One tensor of the model. */
  public record Entry(String hfName, long[] shape, Kind kind) {}

  private final Map<String, Entry> entries;

  private LlamaWeights(Map<String, Entry> entries) {
    this.entries = Collections.unmodifiableMap(entries);
  }

  /** The tensors of a model with this architecture, in forward order. */
  public static LlamaWeights of(LlamaConfig c) {
    Map<String, Entry> m = new LinkedHashMap<>();
    long h = c.hiddenSize();
    long q = (long) c.numAttentionHeads() * c.headDim();
    long kv = (long) c.numKeyValueHeads() * c.headDim();
    long ff = c.intermediateSize();
    put(m, "model.embed_tokens.weight", Kind.EMBEDDING, c.vocabSize(), h);
    for (int i = 0; i < c.numHiddenLayers(); i++) {
      String p = "model.layers." + i + ".";
      put(m, p + "input_layernorm.weight", Kind.NORM, h);
      put(m, p + "self_attn.q_proj.weight", Kind.PROJECTION, q, h);
      put(m, p + "self_attn.k_proj.weight", Kind.PROJECTION, kv, h);
      put(m, p + "self_attn.v_proj.weight", Kind.PROJECTION, kv, h);
      if (c.attentionBias()) {
        put(m, p + "self_attn.q_proj.bias", Kind.BIAS, q);
        put(m, p + "self_attn.k_proj.bias", Kind.BIAS, kv);
        put(m, p + "self_attn.v_proj.bias", Kind.BIAS, kv);
      }
      put(m, p + "self_attn.o_proj.weight", Kind.PROJECTION, h, q);
      if (c.attentionBias()) {
        put(m, p + "self_attn.o_proj.bias", Kind.BIAS, h);
      }
      put(m, p + "post_attention_layernorm.weight", Kind.NORM, h);
      put(m, p + "mlp.gate_proj.weight", Kind.PROJECTION, ff, h);
      put(m, p + "mlp.up_proj.weight", Kind.PROJECTION, ff, h);
      put(m, p + "mlp.down_proj.weight", Kind.PROJECTION, h, ff);
      if (c.mlpBias()) {
        put(m, p + "mlp.gate_proj.bias", Kind.BIAS, ff);
        put(m, p + "mlp.up_proj.bias", Kind.BIAS, ff);
        put(m, p + "mlp.down_proj.bias", Kind.BIAS, h);
      }
    }
    put(m, "model.norm.weight", Kind.NORM, h);
    if (!c.tieWordEmbeddings()) {
      put(m, "lm_head.weight", Kind.PROJECTION, c.vocabSize(), h);
    }
    return new LlamaWeights(m);
  }

  private static void put(Map<String, Entry> m, String name, Kind kind, long... shape) {
    m.put(name, new Entry(name, shape, kind));
  }

  /** All entries, in forward order. */
  public List<Entry> entries() {
    return new ArrayList<>(entries.values());
  }

  /** The entry for a Hugging Face name; an unknown name is an error that says so. */
  public Entry entry(String hfName) {
    Entry e = entries.get(hfName);
    if (e == null) {
      throw new IllegalArgumentException(
          "tensor '" + hfName + "' is not part of this Llama architecture (known: "
              + entries.size() + " tensors, e.g. " + entries.keySet().iterator().next() + ")");
    }
    return e;
  }

  /** Whether the table holds this Hugging Face name. */
  public boolean contains(String hfName) {
    return entries.containsKey(hfName);
  }

  /** Graph variable name of a tensor in a scope ({@code policy}, {@code reference}, ...). */
  public static String variableName(String scope, String hfName) {
    return scope + "/" + hfName;
  }

  /** Hugging Face name of a graph variable of {@code scope}; other names are an error. */
  public String hfNameOf(String scope, String variableName) {
    String prefix = scope + "/";
    if (!variableName.startsWith(prefix)) {
      throw new IllegalArgumentException("variable '" + variableName + "' is not in scope '" + scope + "'");
    }
    return entry(variableName.substring(prefix.length())).hfName();
  }
}
