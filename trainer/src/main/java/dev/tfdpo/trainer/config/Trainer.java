package dev.tfdpo.trainer.config;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonPrimitive;
import java.util.Arrays;
import java.util.EnumSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * The trainers {@code rlhf_type} selects (ms-swift's key, MindSpeed's {@code stage}), what each one sets
 * by default, and which keys belong to which trainer.
 *
 * <p>CPO, ORPO and SimPO are trainers of their own in ms-swift (TRL's CPOTrainer and ORPOTrainer): they
 * never build a reference model. Their defaults are ms-swift's ({@code RLHFArguments}): CPO loss
 * {@code sigmoid}, beta 0.1, {@code cpo_alpha} 1; SimPO is CPO with loss {@code simpo}, beta 2,
 * {@code simpo_gamma} 1, {@code cpo_alpha} 1; ORPO beta 0.1 (the odds-ratio term's weight) with the
 * chosen NLL at weight 1. Here
 * {@code cpo_alpha} is {@code sft_loss_ratio} (both weigh the chosen completion's token-mean NLL), and
 * "no reference" is {@code reference_free} (reference log-probs are 0).
 */
public enum Trainer {
  DPO(List.of()),
  KTO(List.of("kto", "apo_zero_unpaired")),
  RM(List.of()),
  CPO(List.of("sigmoid", "hinge", "ipo", "simpo")),
  ORPO(List.of("orpo")),
  SIMPO(List.of("simpo"));

  /** The accepted {@code rlhf_type} values. */
  public static final List<String> NAMES = Arrays.stream(values()).map(Trainer::configName).toList();

  /**
   * Keys that only some trainers read; every other key is the loop's and belongs to all. In a holder:
   * {@link ConfigKey}'s table reads {@link #NAMES} while it is being built.
   */
  private static final class Owners {
    static final Map<ConfigKey, Set<Trainer>> MAP = owners();
  }

  private final List<String> lossTypes;

  Trainer(List<String> lossTypes) {
    this.lossTypes = lossTypes;
  }

  /** The name as {@code rlhf_type} spells it. */
  public String configName() {
    return name().toLowerCase(Locale.ROOT);
  }

  /** The trainer named {@code name}. */
  public static Trainer byName(String name) {
    for (Trainer t : values()) {
      if (t.configName().equals(name)) {
        return t;
      }
    }
    throw new IllegalArgumentException("unknown rlhf_type '" + name + "'; known: " + NAMES);
  }

  /** True for the trainers that never read a reference model. */
  public boolean referenceFree() {
    return this == CPO || this == ORPO || this == SIMPO || this == RM;
  }

  /** True for the trainers whose loss is the loss table's ({@code LossSpec}): dpo, cpo, orpo, simpo. */
  public boolean usesLossTable() {
    return this == DPO || this == CPO || this == ORPO || this == SIMPO;
  }

  /** The loss types this trainer accepts; empty: any of the loss table (DPO) or none (RM). */
  public List<String> lossTypes() {
    return lossTypes;
  }

  private static Map<ConfigKey, Set<Trainer>> owners() {
    Set<Trainer> withReference = EnumSet.of(DPO, KTO);
    Set<Trainer> pairLosses = EnumSet.of(DPO, CPO, ORPO, SIMPO);
    Map<ConfigKey, Set<Trainer>> m = new java.util.EnumMap<>(ConfigKey.class);
    m.put(ConfigKey.REFERENCE_FREE, EnumSet.of(DPO));
    for (ConfigKey k : List.of(ConfigKey.REF_MODEL_NAME_OR_PATH, ConfigKey.PRECOMPUTE_REF_LOG_PROBS, ConfigKey.PRECOMPUTE_REF_BATCH_SIZE, ConfigKey.REF_CACHE_DIR,
        ConfigKey.REF_MODEL_UPDATE_STEPS, ConfigKey.SYNC_REF_MODEL, ConfigKey.REF_MODEL_MIXUP_ALPHA,
        ConfigKey.REF_MODEL_SYNC_STEPS)) {
      m.put(k, withReference);
    }
    for (ConfigKey k : List.of(ConfigKey.LOSS_WEIGHTS, ConfigKey.DISCOPOP_TAU, ConfigKey.DPOP_LAMBDA,
        ConfigKey.PREF_LOSS_RATIO, ConfigKey.RPO_ALPHA, ConfigKey.PREF_FTX, ConfigKey.USE_WEIGHTING,
        ConfigKey.LD_ALPHA, ConfigKey.F_DIVERGENCE_TYPE, ConfigKey.F_ALPHA_DIVERGENCE_COEF)) {
      m.put(k, EnumSet.of(DPO));
    }
    m.put(ConfigKey.SFT_LOSS_RATIO, pairLosses);
    m.put(ConfigKey.LABEL_SMOOTHING, EnumSet.of(DPO, CPO, SIMPO));
    m.put(ConfigKey.SIMPO_GAMMA, EnumSet.of(DPO, CPO, SIMPO));
    m.put(ConfigKey.LOSS_TYPE, EnumSet.of(DPO, KTO, CPO, ORPO, SIMPO));
    m.put(ConfigKey.BETA, EnumSet.of(DPO, KTO, CPO, ORPO, SIMPO));
    m.put(ConfigKey.DESIRABLE_WEIGHT, EnumSet.of(KTO));
    m.put(ConfigKey.UNDESIRABLE_WEIGHT, EnumSet.of(KTO));
    // Reward models: their own loss option; the pair-layout data options they do not read (TRL's
    // RewardTrainer tokenizes each side as one text and drops over-long pairs).
    m.put(ConfigKey.CENTER_REWARDS_COEFFICIENT, EnumSet.of(RM));
    for (ConfigKey k : List.of(ConfigKey.PACKING, ConfigKey.MAX_PROMPT_LEN, ConfigKey.TRUNCATION_MODE,
        ConfigKey.CHAT_TEMPLATE, ConfigKey.DATASET_FORMAT, ConfigKey.MAP_KEYS, ConfigKey.ON_BAD_ROW)) {
      m.put(k, EnumSet.complementOf(EnumSet.of(RM)));
    }
    return m;
  }

  /**
   * Applies the trainer of {@code merged} (the keys given, before defaults): refuses keys that belong to
   * another trainer, and a loss type the trainer does not train, naming where they were set; then writes
   * the trainer's defaults for the keys not given.
   */
  static Trainer apply(JsonObject merged, TrainConfig.Sources sources) {
    Trainer trainer = of(merged, sources);
    Map<ConfigKey, JsonElement> defaults = trainer.defaults(merged);
    for (ConfigKey key : sources.given()) {
      Set<Trainer> owners = Owners.MAP.get(key);
      // A key at its default says nothing (a saved resolved_config.json lists every key).
      JsonElement value = listed(key, merged.get(key.jsonName()));
      boolean isDefault = value == null || value.equals(listed(key, key.defaultJson()))
          || value.equals(defaults.get(key));
      if (owners != null && !owners.contains(trainer) && !isDefault) {
        throw new ConfigException(sources.where(key) + ": '" + key.jsonName() + "' belongs to the "
            + String.join(" / ", owners.stream().map(Trainer::configName).toList()) + " trainer"
            + (owners.size() > 1 ? "s" : "") + ", but this run's rlhf_type is '" + trainer.configName() + "' ("
            + sources.where(ConfigKey.RLHF_TYPE) + "); remove the key or change rlhf_type");
      }
    }
    if (merged.has(ConfigKey.LOSS_TYPE.jsonName()) && !trainer.lossTypes.isEmpty()) {
      JsonElement given = merged.get(ConfigKey.LOSS_TYPE.jsonName());
      List<JsonElement> items = given.isJsonArray() ? given.getAsJsonArray().asList() : List.of(given);
      boolean ok = items.size() == 1 && items.get(0).isJsonPrimitive()
          && trainer.lossTypes.contains(items.get(0).getAsString());
      if (!ok) {
        throw new ConfigException(sources.where(ConfigKey.LOSS_TYPE) + ": 'loss_type' is " + given + " but rlhf_type '"
            + trainer.configName() + "' (" + sources.where(ConfigKey.RLHF_TYPE) + ") trains one of " + trainer.lossTypes
            + "; use one of them, or rlhf_type dpo for the whole loss table");
      }
    }
    defaults.forEach((key, value) -> {
      if (!merged.has(key.jsonName())) {
        merged.add(key.jsonName(), value);
      }
    });
    return trainer;
  }

  private static Trainer of(JsonObject merged, TrainConfig.Sources sources) {
    JsonElement v = merged.get(ConfigKey.RLHF_TYPE.jsonName());
    if (v == null) {
      return DPO;
    }
    if (!v.isJsonPrimitive() || !v.getAsJsonPrimitive().isString() || !NAMES.contains(v.getAsString())) {
      throw new ConfigException(sources.where(ConfigKey.RLHF_TYPE) + ": 'rlhf_type' is " + v + "; it must be one of "
          + NAMES);
    }
    return byName(v.getAsString());
  }

  /**
   * ms-swift's defaults of this trainer, for the keys a config leaves out. ORPO's odds-ratio term is
   * weighted by beta in TRL's ORPOTrainer ({@code nll - beta * logsigmoid(log_odds)}), while the loss
   * table's {@code orpo} is PaddleNLP's unweighted term: the weight goes in as {@code pref_loss_ratio}.
   */
  private Map<ConfigKey, JsonElement> defaults(JsonObject merged) {
    JsonElement one = new JsonPrimitive(1.0);
    JsonElement beta = merged.has(ConfigKey.BETA.jsonName()) ? merged.get(ConfigKey.BETA.jsonName())
        : new JsonPrimitive(0.1);
    return switch (this) {
      case DPO, RM -> Map.of();
      case KTO -> Map.of(ConfigKey.LOSS_TYPE, single("kto"));
      case CPO -> Map.of(ConfigKey.LOSS_TYPE, single("sigmoid"), ConfigKey.BETA, new JsonPrimitive(0.1),
          ConfigKey.SFT_LOSS_RATIO, one, ConfigKey.REFERENCE_FREE, new JsonPrimitive(true));
      case SIMPO -> Map.of(ConfigKey.LOSS_TYPE, single("simpo"), ConfigKey.BETA, new JsonPrimitive(2.0),
          ConfigKey.SIMPO_GAMMA, one, ConfigKey.SFT_LOSS_RATIO, one, ConfigKey.REFERENCE_FREE, new JsonPrimitive(true));
      case ORPO -> Map.of(ConfigKey.LOSS_TYPE, single("orpo"), ConfigKey.BETA, beta, ConfigKey.PREF_LOSS_RATIO, beta,
          ConfigKey.SFT_LOSS_RATIO, one, ConfigKey.REFERENCE_FREE, new JsonPrimitive(true));
    };
  }

  /** A list key's single value as a one-item array, as the resolved config holds it. */
  private static JsonElement listed(ConfigKey key, JsonElement v) {
    if (v != null && key.kind() == ConfigKey.Kind.LIST && v.isJsonPrimitive()) {
      JsonArray a = new JsonArray();
      a.add(v);
      return a;
    }
    return v;
  }

  private static JsonArray single(String name) {
    JsonArray a = new JsonArray();
    a.add(name);
    return a;
  }
}
