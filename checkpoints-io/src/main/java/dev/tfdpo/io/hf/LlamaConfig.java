package dev.tfdpo.io.hf;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import dev.tfdpo.io.StrictJson;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Set;

/**
 * The architecture of a Llama-family model, read from a Hugging Face {@code config.json}.
 *
 * <p>Both spellings of RoPE settings are read: transformers 5's {@code rope_parameters} object and the
 * legacy top-level {@code rope_theta} / {@code rope_scaling} keys. Qwen2-style projection biases come
 * from {@code attention_bias} and {@code mlp_bias}.
 */
public record LlamaConfig(
    int vocabSize,
    int hiddenSize,
    int intermediateSize,
    int numHiddenLayers,
    int numAttentionHeads,
    int numKeyValueHeads,
    int headDim,
    double rmsNormEps,
    Rope rope,
    boolean tieWordEmbeddings,
    boolean attentionBias,
    boolean mlpBias,
    int bosTokenId,
    int eosTokenId,
    int maxPositionEmbeddings) {

  /** Model types whose decoder is the Llama block (with the bias switches above). */
  public static final Set<String> SUPPORTED_MODEL_TYPES = Set.of("llama", "qwen2", "mistral");

  /**
   * RoPE settings.
   *
   * @param type {@code default}, {@code linear} or {@code llama3}
   * @param theta base of the inverse frequencies
   * @param factor scaling factor (linear, llama3)
   * @param lowFreqFactor llama3 only
   * @param highFreqFactor llama3 only
   * @param originalMaxPositionEmbeddings llama3 only
   */
  public record Rope(
      String type,
      double theta,
      double factor,
      double lowFreqFactor,
      double highFreqFactor,
      int originalMaxPositionEmbeddings) {

    /** Inverse frequencies in float32, as transformers computes them, after scaling. */
    public float[] inverseFrequencies(int headDim) {
      int half = headDim / 2;
      float[] inv = new float[half];
      for (int i = 0; i < half; i++) {
        // transformers: 1 / base ** (arange(0, dim, 2).float() / dim), all in float32.
        float exponent = (float) (2 * i) / (float) headDim;
        float power = (float) Math.pow(theta, exponent);
        inv[i] = 1.0f / power;
      }
      switch (type) {
        case "default" -> {}
        case "linear" -> {
          for (int i = 0; i < half; i++) {
            inv[i] = (float) (inv[i] / factor);
          }
        }
        case "llama3" -> scaleLlama3(inv);
        default -> throw new IllegalStateException("unreachable rope type " + type);
      }
      return inv;
    }

    private void scaleLlama3(float[] inv) {
      double lowFreqWavelen = originalMaxPositionEmbeddings / lowFreqFactor;
      double highFreqWavelen = originalMaxPositionEmbeddings / highFreqFactor;
      for (int i = 0; i < inv.length; i++) {
        double wavelen = 2 * Math.PI / inv[i];
        if (wavelen > lowFreqWavelen) {
          inv[i] = (float) (inv[i] / factor);
        } else if (wavelen >= highFreqWavelen) {
          double smooth =
              (originalMaxPositionEmbeddings / wavelen - lowFreqFactor)
                  / (highFreqFactor - lowFreqFactor);
          inv[i] = (float) ((1 - smooth) * inv[i] / factor + smooth * inv[i]);
        }
      }
    }
  }

  /** Number of query heads that share one key/value head. */
  public int queriesPerKeyValue() {
    return numAttentionHeads / numKeyValueHeads;
  }

  /** Reads {@code dir/config.json}. */
  public static LlamaConfig read(Path modelDir) throws IOException {
    Path file = modelDir.resolve("config.json");
    if (!Files.isRegularFile(file)) {
      throw new IOException(
          "no config.json in " + modelDir + ": model_name_or_path must be a Hugging Face model directory");
    }
    JsonElement e;
    try {
      e = StrictJson.parse(Files.readString(file, StandardCharsets.UTF_8));
    } catch (StrictJson.Invalid ex) {
      throw new IllegalArgumentException(file + ": " + (ex.duplicateKey() != null ? "" : "invalid JSON: ")
          + ex.getMessage(), ex);
    } catch (java.nio.charset.CharacterCodingException ex) {
      throw new IllegalArgumentException(file + ": not UTF-8 text; a model's config.json must be UTF-8 JSON", ex);
    }
    if (!e.isJsonObject()) {
      throw new IllegalArgumentException(file + ": expected a JSON object");
    }
    return fromJson(e.getAsJsonObject(), file.toString());
  }

  /** Parses a config object; {@code where} names its origin in error messages. */
  public static LlamaConfig fromJson(JsonObject json, String where) {
    Reader r = new Reader(json, where);
    String modelType = r.string("model_type", "llama");
    if (!SUPPORTED_MODEL_TYPES.contains(modelType)) {
      throw new IllegalArgumentException(
          where + ": model_type '" + modelType + "' is not a Llama-family decoder; supported: "
              + SUPPORTED_MODEL_TYPES);
    }
    String act = r.string("hidden_act", "silu");
    if (!act.equals("silu")) {
      throw new IllegalArgumentException(where + ": hidden_act '" + act + "' is not supported (only silu)");
    }
    int hidden = r.positiveInt("hidden_size");
    int heads = r.positiveInt("num_attention_heads");
    int kvHeads = json.has("num_key_value_heads") && !json.get("num_key_value_heads").isJsonNull()
        ? r.positiveInt("num_key_value_heads") : heads;
    if (heads % kvHeads != 0) {
      throw new IllegalArgumentException(
          where + ": num_attention_heads " + heads + " is not a multiple of num_key_value_heads " + kvHeads);
    }
    int headDim = json.has("head_dim") && !json.get("head_dim").isJsonNull()
        ? r.positiveInt("head_dim") : hidden / heads;
    if (headDim % 2 != 0) {
      throw new IllegalArgumentException(where + ": head_dim " + headDim + " must be even for RoPE");
    }
    int maxPos = json.has("max_position_embeddings") ? r.positiveInt("max_position_embeddings") : 2048;
    return new LlamaConfig(
        r.positiveInt("vocab_size"),
        hidden,
        r.positiveInt("intermediate_size"),
        r.positiveInt("num_hidden_layers"),
        heads,
        kvHeads,
        headDim,
        r.number("rms_norm_eps", 1e-6),
        readRope(json, where, maxPos),
        r.bool("tie_word_embeddings", false),
        r.bool("attention_bias", modelType.equals("qwen2")),
        r.bool("mlp_bias", false),
        r.intOr("bos_token_id", 1),
        r.intOr("eos_token_id", 2),
        maxPos);
  }

  private static Rope readRope(JsonObject json, String where, int maxPos) {
    // transformers 5 writes rope_parameters; older configs use rope_theta and rope_scaling.
    JsonObject params = null;
    if (json.has("rope_parameters") && json.get("rope_parameters").isJsonObject()) {
      params = json.getAsJsonObject("rope_parameters");
    } else if (json.has("rope_scaling") && json.get("rope_scaling").isJsonObject()) {
      params = json.getAsJsonObject("rope_scaling");
    }
    Reader top = new Reader(json, where);
    double theta = top.number("rope_theta", 10000.0);
    if (params == null) {
      return new Rope("default", theta, 1.0, 1.0, 1.0, maxPos);
    }
    Reader p = new Reader(params, where + " (rope parameters)");
    String type = params.has("rope_type") ? p.string("rope_type", "default") : p.string("type", "default");
    theta = p.number("rope_theta", theta);
    return switch (type) {
      case "default" -> new Rope("default", theta, 1.0, 1.0, 1.0, maxPos);
      case "linear" -> new Rope("linear", theta, p.number("factor", 1.0), 1.0, 1.0, maxPos);
      case "llama3" -> new Rope(
          "llama3",
          theta,
          p.number("factor", 8.0),
          p.number("low_freq_factor", 1.0),
          p.number("high_freq_factor", 4.0),
          p.intOr("original_max_position_embeddings", 8192));
      default -> throw new IllegalArgumentException(
          where + ": rope type '" + type + "' is not supported (default, linear, llama3)");
    };
  }

  /** Typed access to config keys with errors that name the key and the file. */
  private record Reader(JsonObject json, String where) {

    int positiveInt(String key) {
      if (!json.has(key) || json.get(key).isJsonNull()) {
        throw new IllegalArgumentException(where + ": missing key '" + key + "'");
      }
      int v = intOr(key, 0);
      if (v <= 0) {
        throw new IllegalArgumentException(where + ": '" + key + "' must be a positive integer, got " + v);
      }
      return v;
    }

    int intOr(String key, int fallback) {
      JsonElement e = json.get(key);
      if (e == null || e.isJsonNull()) {
        return fallback;
      }
      if (e.isJsonArray() && e.getAsJsonArray().size() > 0) {
        e = e.getAsJsonArray().get(0); // eos_token_id may be a list; the first one ends sequences
      }
      // A JSON number only: gson would also read the string "64" as 64, which transformers refuses.
      double d = isNumber(e) ? e.getAsDouble() : Double.NaN;
      if (d != Math.rint(d) || Math.abs(d) > Integer.MAX_VALUE) {
        throw new IllegalArgumentException(where + ": '" + key + "' must be an integer, got " + e);
      }
      return (int) d;
    }

    double number(String key, double fallback) {
      JsonElement e = json.get(key);
      if (e == null || e.isJsonNull()) {
        return fallback;
      }
      double d = isNumber(e) ? e.getAsDouble() : Double.NaN;
      if (!Double.isFinite(d)) {
        throw new IllegalArgumentException(where + ": '" + key + "' must be a finite number, got " + e);
      }
      return d;
    }

    private static boolean isNumber(JsonElement e) {
      return e.isJsonPrimitive() && e.getAsJsonPrimitive().isNumber();
    }

    boolean bool(String key, boolean fallback) {
      JsonElement e = json.get(key);
      if (e == null || e.isJsonNull()) {
        return fallback;
      }
      if (!e.isJsonPrimitive() || !e.getAsJsonPrimitive().isBoolean()) {
        throw new IllegalArgumentException(where + ": '" + key + "' must be true or false, got " + e);
      }
      return e.getAsBoolean();
    }

    String string(String key, String fallback) {
      JsonElement e = json.get(key);
      if (e == null || e.isJsonNull()) {
        return fallback;
      }
      if (!e.isJsonPrimitive() || !e.getAsJsonPrimitive().isString()) {
        throw new IllegalArgumentException(where + ": '" + key + "' must be a string, got " + e);
      }
      return e.getAsString();
    }
  }
}
