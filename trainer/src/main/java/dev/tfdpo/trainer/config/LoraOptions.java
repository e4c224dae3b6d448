package dev.tfdpo.trainer.config;

import dev.tfdpo.io.hf.PeftAdapter;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The LoRA options of a run, resolved and checked together (docs/lora.md).
 *
 * @param enabled {@code lora} or {@code sft_type: lora}
 * @param rank r
 * @param alpha lora_alpha after PaddleNLP's defaults (-1: {@code 2 r}, or 4 with rsLoRA; {@code
 *     rslora_plus}: 4)
 * @param rslora scale {@code alpha / sqrt(r)}
 * @param plusScale LoRA+ multiplier of the B matrices' learning rate
 * @param path PEFT adapter directory to start from; empty: PEFT's initialization
 * @param targets the targeted projections, Hugging Face short names
 * @param quantize {@code weight_quantize_algo}: weight_only_int8, nf4, or empty (float32)
 */
public record LoraOptions(boolean enabled, int rank, double alpha, boolean rslora, double plusScale, String path,
    List<String> targets, String quantize) {

  /** MindSpeed-LLM's module names and the Hugging Face projections each stands for. */
  public static final Map<String, List<String>> MINDSPEED = Map.of(
      "linear_qkv", List.of("q_proj", "k_proj", "v_proj"),
      "linear_proj", List.of("o_proj"),
      "linear_fc1", List.of("gate_proj", "up_proj"),
      "linear_fc2", List.of("down_proj"));

  /** Names that mean every linear projection (PEFT's all-linear, ms-swift's ALL). */
  public static final List<String> ALL = List.of("all-linear", "ALL", "all");

  /** The keys that only mean something with LoRA on. */
  static final List<ConfigKey> LORA_ONLY = List.of(ConfigKey.LORA_RANK, ConfigKey.LORA_ALPHA, ConfigKey.RSLORA,
      ConfigKey.LORA_PLUS_SCALE, ConfigKey.RSLORA_PLUS, ConfigKey.LORA_PATH, ConfigKey.LORA_TARGET_MODULES,
      ConfigKey.WEIGHT_QUANTIZE_ALGO);

  /** The options of {@code config} (already validated). */
  public static LoraOptions of(TrainConfig config) {
    ModelArgs m = config.model();
    boolean enabled = m.lora() || m.sftType().equals("lora");
    boolean rslora = m.rslora() || m.rsloraPlus();
    double plus = m.rsloraPlus() ? 4 : m.loraPlusScale();
    double alpha = m.rsloraPlus() ? 4 : m.loraAlpha() != -1 ? m.loraAlpha() : rslora ? 4 : 2.0 * m.loraRank();
    return new LoraOptions(enabled, m.loraRank(), alpha, rslora, plus, m.loraPath(), targets(m.loraTargetModules()),
        m.weightQuantizeAlgo());
  }

  /**
   * The Hugging Face projections {@code names} stand for, in forward order.
   *
   * @throws IllegalArgumentException naming the unknown name and the valid ones
   */
  public static List<String> targets(List<String> names) {
    Set<String> out = new LinkedHashSet<>();
    for (String n : names) {
      if (ALL.contains(n)) {
        out.addAll(PeftAdapter.TARGET_MODULES);
      } else if (MINDSPEED.containsKey(n)) {
        out.addAll(MINDSPEED.get(n));
      } else if (PeftAdapter.TARGET_MODULES.contains(n)) {
        out.add(n);
      } else {
        throw new IllegalArgumentException("unknown LoRA target module '" + n + "'; valid: "
            + String.join(", ", PeftAdapter.TARGET_MODULES) + ", " + String.join(", ", ALL) + " (every one), or MindSpeed's "
            + String.join(", ", List.of("linear_qkv", "linear_proj", "linear_fc1", "linear_fc2")));
      }
    }
    return PeftAdapter.TARGET_MODULES.stream().filter(out::contains).toList();
  }

  /** Checks across keys, naming where each value came from. */
  static void check(TrainConfig c, TrainConfig.Sources s) {
    ModelArgs m = c.model();
    boolean enabled = m.lora() || m.sftType().equals("lora");
    if (!enabled) {
      for (ConfigKey k : LORA_ONLY) {
        if (changed(c, k)) {
          throw new ConfigException(s.where(k) + ": '" + k.jsonName() + "' is set but LoRA is off; set lora: true"
              + " (or sft_type: lora), or remove it");
        }
      }
      return;
    }
    if (m.rsloraPlus()) {
      for (ConfigKey k : List.of(ConfigKey.LORA_ALPHA, ConfigKey.LORA_PLUS_SCALE)) {
        if (changed(c, k)) {
          throw new ConfigException(s.where(k) + ": '" + k.jsonName() + "' cannot be set with rslora_plus ("
              + s.where(ConfigKey.RSLORA_PLUS) + "), which sets lora_alpha 4 and lora_plus_scale 4 itself");
        }
      }
    }
    try {
      targets(m.loraTargetModules());
    } catch (IllegalArgumentException e) {
      throw new ConfigException(s.where(ConfigKey.LORA_TARGET_MODULES) + ": " + e.getMessage());
    }
    if (!m.refModelNameOrPath().isEmpty()) {
      throw new ConfigException(s.where(ConfigKey.REF_MODEL_NAME_OR_PATH) + ": a LoRA run's reference is its"
          + " starting policy on the same frozen base; remove ref_model_name_or_path or train without lora");
    }
    ReferenceOptions r = c.reference();
    if (!m.weightQuantizeAlgo().isEmpty() && r.precompute()) {
      throw new ConfigException(s.where(ConfigKey.PRECOMPUTE_REF_LOG_PROBS) + ": precompute_ref_log_probs with"
          + " weight_quantize_algo (" + s.where(ConfigKey.WEIGHT_QUANTIZE_ALGO) + ") is not supported: the pass"
          + " runs the float32 base, not the quantized one the policy starts from; use the live reference");
    }
    if (r.syncSteps() > 0) {
      throw new ConfigException("sync_ref_model / ref_model_update_steps cannot be used with lora: the reference is"
          + " the starting policy on the shared frozen base (" + s.where(ConfigKey.LORA) + ")");
    }
    // bf16 O1 works (float32 adapters, their products in bfloat16 like the base's); O2 stores a separate
    // frozen reference in bfloat16, and a LoRA run has none: its reference is the policy's own base.
    if (c.training().bf16() && c.training().fp16OptLevel().equals("O2")) {
      throw new ConfigException(s.where(ConfigKey.FP16_OPT_LEVEL) + ": fp16_opt_level O2 stores the frozen reference"
          + " in bfloat16, but a LoRA run (" + s.where(ConfigKey.LORA) + ") has no reference copy: it runs on the"
          + " policy's frozen base; use fp16_opt_level O1");
    }
    if (!m.loraPath().isEmpty()) {
      for (ConfigKey k : List.of(ConfigKey.LORA_RANK, ConfigKey.LORA_ALPHA, ConfigKey.RSLORA, ConfigKey.RSLORA_PLUS,
          ConfigKey.LORA_TARGET_MODULES)) {
        if (changed(c, k)) {
          throw new ConfigException(s.where(k) + ": '" + k.jsonName() + "' cannot be set with lora_path ("
              + s.where(ConfigKey.LORA_PATH) + "): the adapter's adapter_config.json decides it");
        }
      }
    }
  }

  /**
   * Whether {@code key} has another value than its default. Not whether it was given: a saved resolved
   * config lists every key with its value, and must load again.
   */
  private static boolean changed(TrainConfig c, ConfigKey key) {
    com.google.gson.JsonElement value = c.toJson().get(key.jsonName());
    com.google.gson.JsonElement fallback = key.defaultJson();
    if (value.isJsonPrimitive() && value.getAsJsonPrimitive().isNumber() && fallback.isJsonPrimitive()) {
      return value.getAsDouble() != fallback.getAsDouble();
    }
    return !value.equals(fallback);
  }

  /** PEFT's scaling of the adapter: {@code alpha / r}, or {@code alpha / sqrt(r)} with rsLoRA. */
  public float scale() {
    return PeftAdapter.scale(alpha, rank, rslora);
  }

  /** These options with the rank, alpha, rsLoRA and targets of a loaded adapter. */
  public LoraOptions from(PeftAdapter adapter) {
    List<String> t = new ArrayList<>();
    try {
      t.addAll(targets(adapter.targets()));
    } catch (IllegalArgumentException e) {
      throw new ConfigException(path + "/" + PeftAdapter.CONFIG_FILE + ": " + e.getMessage());
    }
    return new LoraOptions(enabled, adapter.rank(), adapter.alpha(), adapter.rslora(), plusScale, path, t, quantize);
  }

  /** Reads the adapter of {@code lora_path}, resolved to {@code dir}. */
  public static PeftAdapter readAdapter(Path dir) throws IOException {
    if (!Files.isRegularFile(dir.resolve(PeftAdapter.CONFIG_FILE))) {
      throw new ConfigException("lora_path " + dir + " has no " + PeftAdapter.CONFIG_FILE
          + "; it must be a PEFT adapter directory (adapter_config.json + adapter_model.safetensors)");
    }
    return PeftAdapter.read(dir);
  }
}
