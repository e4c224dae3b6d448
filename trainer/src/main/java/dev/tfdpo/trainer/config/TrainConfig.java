package dev.tfdpo.trainer.config;

import com.google.gson.FieldNamingPolicy;
import com.google.gson.Gson;
import com.google.gson.GsonBuilder;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParseException;
import com.google.gson.JsonPrimitive;
import dev.tfdpo.data.JsonText;
import dev.tfdpo.io.StrictJson;
import dev.tfdpo.ops.LossSpec;
import dev.tfdpo.ops.Precision;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A resolved run configuration: defaults, then the JSON file, then {@code --key value} overrides.
 *
 * <p>Every key is checked against {@link ConfigKey}: an unknown key names the closest known one, a
 * value of the wrong type or out of range names the key, the value and where it was set (file and
 * line, or the command line).
 */
public record TrainConfig(ModelArgs model, DataArgs data, TrainingArgs training, DpoArgs dpo) {

  // A record component's JSON name is its snake_case spelling, the key's name in ConfigKey.
  private static final Gson GSON =
      new GsonBuilder().setFieldNamingPolicy(FieldNamingPolicy.LOWER_CASE_WITH_UNDERSCORES).create();

  /**
   * The run fingerprint the trainer writes first into {@code resolved_config.json}; not a key, skipped
   * when such a file is loaded as a config.
   */
  public static final String RUN_ID = "run_id";
  private static final Gson PRETTY = new GsonBuilder().setPrettyPrinting().create();

  /**
   * Loads a config.
   *
   * @param file the JSON file, or null for defaults only
   * @param overrides {@code --key value} pairs from the command line, in order
   */
  public static TrainConfig load(Path file, List<String> overrides) throws IOException {
    Sources sources = new Sources();
    JsonObject merged = new JsonObject();
    if (file != null) {
      String text = readUtf8(file);
      JsonObject fromFile = parseObject(file, text);
      Map<ConfigKey, String> spelled = new LinkedHashMap<>();
      for (Map.Entry<String, JsonElement> e : fromFile.entrySet()) {
        if (e.getKey().equals(RUN_ID)) {
          continue;
        }
        ConfigKey key = known(e.getKey(), file + ":" + lineOf(text, e.getKey()));
        String earlier = spelled.put(key, e.getKey());
        if (earlier != null) {
          // A key and its alias in one file: which one wins would be an accident of the JSON order.
          throw new ConfigException(file + ":" + lineOf(text, e.getKey()) + ": '" + e.getKey() + "' and '" + earlier
              + "' set the same key '" + key.jsonName() + "'; keep one of them");
        }
        sources.put(key, file + ":" + lineOf(text, e.getKey()));
        merged.add(key.jsonName(), e.getValue());
      }
    }
    applyOverrides(overrides, merged, sources);
    return resolve(merged, sources);
  }

  /** Builds and validates a config from already merged JSON (no defaults applied yet). */
  static TrainConfig resolve(JsonObject merged, Sources sources) {
    Trainer.apply(merged, sources); // the trainer's own defaults and keys, before the table's defaults
    Map<ConfigKey.Section, JsonObject> sections = new LinkedHashMap<>();
    for (ConfigKey.Section s : ConfigKey.Section.values()) {
      sections.put(s, new JsonObject());
    }
    for (ConfigKey key : ConfigKey.values()) {
      JsonElement value = merged.has(key.jsonName()) ? merged.get(key.jsonName()) : key.defaultJson();
      if (value.isJsonNull() && merged.has(key.jsonName())) {
        throw new ConfigException(sources.where(key) + ": '" + key.jsonName() + "' is null; give it a value"
            + (key.required() ? "" : ", or remove it for its default " + key.defaultJson()));
      }
      if (value.isJsonNull()) {
        if (key.required()) {
          throw new ConfigException(
              "missing required key '" + key.jsonName() + "' (" + key.doc()
                  + "); set it in the config file or pass --" + key.jsonName() + " VALUE");
        }
        continue;
      }
      if (key.kind() == ConfigKey.Kind.LIST && value.isJsonPrimitive()) {
        com.google.gson.JsonArray single = new com.google.gson.JsonArray();
        single.add(value);
        value = single;
      }
      checkType(key, value, sources.where(key));
      checkValue(key, value, sources.where(key));
      sections.get(key.section()).add(key.jsonName(), value);
    }
    TrainConfig c = new TrainConfig(
        GSON.fromJson(sections.get(ConfigKey.Section.MODEL), ModelArgs.class),
        GSON.fromJson(sections.get(ConfigKey.Section.DATA), DataArgs.class),
        GSON.fromJson(sections.get(ConfigKey.Section.TRAINING), TrainingArgs.class),
        GSON.fromJson(sections.get(ConfigKey.Section.DPO), DpoArgs.class));
    c.validate(sources);
    return c;
  }

  /** Checks across keys; each key's own range was checked against its table entry. */
  private void validate(Sources s) {
    check(s, ConfigKey.MAX_PROMPT_LEN, data.maxPromptLen(),
        data.maxPromptLen() >= 0 && data.maxPromptLen() < data.maxSeqLen(),
        "0 (no limit) or below max_seq_len (" + data.maxSeqLen() + ")");
    validateEvaluation(s);
    TrainingArgs t = training;
    check(s, ConfigKey.OVERWRITE_OUTPUT_DIR, t.overwriteOutputDir(),
        !t.overwriteOutputDir() || t.resumeFromCheckpoint().isEmpty(),
        "false when resume_from_checkpoint is set ('" + t.resumeFromCheckpoint() + "' from " + s.where(
            ConfigKey.RESUME_FROM_CHECKPOINT) + "): overwriting would remove the checkpoints the run continues");
    validateRecompute(s);
    if (Trainer.byName(dpo.rlhfType()).usesLossTable()) {
      try {
        lossSpec();
      } catch (IllegalArgumentException e) {
        throw new ConfigException(s.where(ConfigKey.LOSS_TYPE) + ": " + e.getMessage());
      }
    }
    ReferenceOptions.check(this, s);
    try {
      devices();
    } catch (IllegalArgumentException e) {
      throw new ConfigException(s.where(ConfigKey.DEVICES) + ": devices: " + e.getMessage());
    }
    check(s, ConfigKey.USE_XLA, t.useXla(), !t.useXla() || devices().size() == 1,
        "false with several devices (" + t.devices() + " from " + s.where(ConfigKey.DEVICES)
            + "): the XLA CPU JIT does not compile the replicas' collective ops");
    // With TF_CONFIG the tasks are the replicas: TrainMain reloads the config with devices = the task count.
    boolean tasks = System.getenv(TfConfig.ENV) != null && !System.getenv(TfConfig.ENV).isBlank();
    check(s, ConfigKey.SHARDING, "'" + t.sharding() + "'", t.sharding().isEmpty() || devices().size() > 1 || tasks,
        "\"\" (off) unless devices lists 2 or more devices of this process, or TF_CONFIG 2 or more workers "
            + "(devices is " + t.devices() + " from " + s.where(ConfigKey.DEVICES) + "): one replica has nothing "
            + "to split");
    validatePrecision(s);
    LoraOptions.check(this, s);
  }

  /** Full device names of the data-parallel replicas ({@link DeviceList}); {@code [""]}: one device. */
  public List<String> devices() {
    return DeviceList.parse(training.devices());
  }

  /**
   * bf16 levels: {@code fp16_opt_level} O2 means something only with bf16, and needs something frozen
   * to store in bfloat16 (a live reference that never syncs).
   */
  private void validatePrecision(Sources s) {
    TrainingArgs t = training;
    // O1 is the default (and what a saved config holds); O2 without bf16 would be a level with no effect.
    if (!t.bf16() && t.fp16OptLevel().equals("O2")) {
      throw new ConfigException(s.where(ConfigKey.FP16_OPT_LEVEL) + ": 'fp16_opt_level' is " + t.fp16OptLevel()
          + " but 'bf16' is false, so it would have no effect; set bf16 to true or remove fp16_opt_level");
    }
    if (!t.bf16() || !t.fp16OptLevel().equals("O2")) {
      return;
    }
    ReferenceOptions r = reference();
    String frozenMissing = r.referenceFree() ? "the run is reference-free"
        : r.precompute() ? "precompute_ref_log_probs is on (the reference's log-probs are precomputed, "
            + "the training graph holds no reference weights)"
        : r.syncSteps() > 0 ? "the reference is synced with the policy (sync_ref_model / ref_model_update_steps), "
            + "so it is not frozen"
        : null;
    if (frozenMissing != null) {
      throw new ConfigException(s.where(ConfigKey.FP16_OPT_LEVEL) + ": 'fp16_opt_level' is O2, which stores the "
          + "frozen reference in bfloat16, but " + frozenMissing + ": there is nothing to store in bfloat16; "
          + "use fp16_opt_level O1");
    }
  }

  /** The matrix products' precision of this run. */
  public Precision computePrecision() {
    return training.bf16() ? Precision.BFLOAT16 : Precision.FLOAT32;
  }

  /** How a live reference's weights are stored: bfloat16 with bf16 O2, else float32. */
  public Precision referenceStorage() {
    return training.bf16() && training.fp16OptLevel().equals("O2") ? Precision.BFLOAT16 : Precision.FLOAT32;
  }

  /** Recompute works with every other option but XLA, and its granularity only means something with it on. */
  private void validateRecompute(Sources s) {
    TrainingArgs t = training;
    if (t.recompute() && t.useXla()) {
      throw new ConfigException(s.where(ConfigKey.RECOMPUTE) + ": 'recompute' (gradient_checkpointing) is true and "
          + "'use_xla' is true (" + s.where(ConfigKey.USE_XLA) + "); XLA's clustering may merge the recomputed "
          + "copy of a block with its first forward and keep the activations recompute frees: turn one of them off");
    }
    // A saved resolved config lists every key, the default granularity included, so only another value
    // without recompute is the mistake of a setting that does nothing.
    if (!t.recompute() && !t.recomputeGranularity().equals(ConfigKey.RECOMPUTE_GRANULARITY.defaultValue())) {
      throw new ConfigException(s.where(ConfigKey.RECOMPUTE_GRANULARITY) + ": 'recompute_granularity' is '"
          + t.recomputeGranularity() + "' but 'recompute' is false, so it would have no effect; set recompute "
          + "to true (or gradient_checkpointing), or remove recompute_granularity");
    }
  }

  /** The reference-model options of this run. */
  public ReferenceOptions reference() {
    return ReferenceOptions.of(this);
  }

  /** The LoRA options, resolved ({@link LoraOptions}). */
  public LoraOptions lora() {
    return LoraOptions.of(this);
  }

  /**
   * Evaluation keys, as Hugging Face's Trainer checks them, plus the project's rule that a setting
   * never has no effect: a dev set without a strategy, or eval_steps without {@code steps}, is refused.
   */
  private void validateEvaluation(Sources s) {
    TrainingArgs t = training;
    boolean evaluates = !t.evaluationStrategy().equals("no");
    boolean hasDev = !data.devDatasetPath().isEmpty();
    if (evaluates && !hasDev) {
      throw new ConfigException(s.where(ConfigKey.EVALUATION_STRATEGY) + ": 'evaluation_strategy' is '"
          + t.evaluationStrategy() + "' but no evaluation data is given; set 'dev_dataset_path' "
          + "(e.g. --dev_dataset_path dev.jsonl) or set evaluation_strategy to 'no'");
    }
    if (!evaluates && hasDev) {
      throw new ConfigException(s.where(ConfigKey.DEV_DATASET_PATH) + ": 'dev_dataset_path' is set but "
          + "'evaluation_strategy' is 'no', so it would never be read; set evaluation_strategy to 'steps' or "
          + "'epoch', or remove dev_dataset_path");
    }
    if (t.evalSteps() != 0 && !t.evaluationStrategy().equals("steps")) {
      throw new ConfigException(s.where(ConfigKey.EVAL_STEPS) + ": 'eval_steps' is " + t.evalSteps()
          + " but 'evaluation_strategy' is '" + t.evaluationStrategy() + "'; eval_steps only applies to "
          + "evaluation_strategy 'steps' (set it, or leave eval_steps at 0)");
    }
  }

  /** The loss of this run; invalid combinations throw IllegalArgumentException naming the option. */
  public LossSpec lossSpec() {
    LossSpec.Builder b = LossSpec.builder()
        .lossTypes(dpo.lossType())
        .beta((float) dpo.beta())
        .labelSmoothing((float) dpo.labelSmoothing())
        .discopopTau((float) dpo.discopopTau())
        .dpopLambda((float) dpo.dpopLambda())
        .simpoGamma((float) dpo.simpoGamma())
        .prefLossRatio((float) dpo.prefLossRatio())
        .rpoAlpha((float) dpo.rpoAlpha())
        .prefFtx((float) dpo.prefFtx())
        .useWeighting(dpo.useWeighting())
        .ldAlpha((float) dpo.ldAlpha())
        .fDivergence(dpo.fDivergenceType())
        .fAlphaDivergenceCoef((float) dpo.fAlphaDivergenceCoef());
    if (!dpo.lossWeights().isEmpty()) {
      b.lossWeights(dpo.lossWeights().stream().map(Double::floatValue).toList());
    }
    if (dpo.sftLossRatio() >= 0) {
      b.sftLossRatio((float) dpo.sftLossRatio());
    }
    return b.build();
  }

  /** The resolved config as flat JSON, every key present (what is saved with each run). */
  public JsonObject toJson() {
    JsonObject out = new JsonObject();
    for (Object section : List.of(model, data, training, dpo)) {
      JsonObject o = GSON.toJsonTree(section).getAsJsonObject();
      o.entrySet().forEach(e -> out.add(e.getKey(), e.getValue()));
    }
    return out;
  }

  /** Writes {@link #toJson()} pretty-printed. */
  public void save(Path file) throws IOException {
    Files.writeString(file, PRETTY.toJson(toJson()) + "\n", StandardCharsets.UTF_8);
  }

  // ---- parsing helpers ----

  /** The file's text; bytes that are not UTF-8 are an error naming the line and byte offset. */
  private static String readUtf8(Path file) throws IOException {
    byte[] bytes = Files.readAllBytes(file);
    try {
      return JsonText.decode(bytes, 0, bytes.length, 0);
    } catch (JsonText.InvalidUtf8 e) {
      int line = 1;
      for (int i = 0; i < e.offset(); i++) {
        line += bytes[i] == '\n' ? 1 : 0;
      }
      throw new ConfigException(file + ":" + line + ": " + e.getMessage() + "; save the config as UTF-8");
    }
  }

  private static JsonObject parseObject(Path file, String text) {
    JsonElement e;
    try {
      e = StrictJson.parse(text);
    } catch (StrictJson.Invalid ex) {
      throw new ConfigException(file + ": " + (ex.duplicateKey() != null ? "" : "invalid JSON: ") + ex.getMessage());
    }
    if (!e.isJsonObject()) {
      throw new ConfigException(file + ": the config must be one flat JSON object of \"key\": value pairs");
    }
    return e.getAsJsonObject();
  }

  /** {@code --key value} or {@code --key=value}, as Hugging Face's argument parser takes them. */
  private static void applyOverrides(List<String> args, JsonObject merged, Sources sources) {
    for (int i = 0; i < args.size(); i++) {
      String arg = args.get(i);
      if (!arg.startsWith("--")) {
        throw new ConfigException("unexpected argument '" + arg
            + "': overrides are written --key value or --key=value (e.g. --learning_rate 5e-4)");
      }
      int eq = arg.indexOf('=');
      String name = eq > 0 ? arg.substring(2, eq) : arg.substring(2);
      String where = "command line (--" + name + ")";
      ConfigKey key = known(name, where);
      if (eq < 0 && i + 1 >= args.size()) {
        throw new ConfigException(where + ": --" + name + " needs a value");
      }
      String raw = eq > 0 ? arg.substring(eq + 1) : args.get(++i);
      merged.add(key.jsonName(), parseValue(key, raw, where));
      sources.put(key, where);
    }
  }

  private static JsonElement parseValue(ConfigKey key, String raw, String where) {
    try {
      return switch (key.kind()) {
        case INT -> new JsonPrimitive(Integer.parseInt(raw));
        case NUMBER -> new JsonPrimitive(Double.parseDouble(raw));
        case BOOL -> {
          if (!raw.equals("true") && !raw.equals("false")) {
            throw new NumberFormatException();
          }
          yield new JsonPrimitive(Boolean.parseBoolean(raw));
        }
        case STRING -> new JsonPrimitive(raw);
        case OBJECT -> objectFromCommandLine(key, raw, where);
        case LIST -> listFromCommandLine(raw);
      };
    } catch (NumberFormatException | JsonParseException e) {
      throw new ConfigException(
          where + ": '" + key.jsonName() + "' must be " + describe(key.kind()) + ", got '" + raw + "'");
    }
  }

  /** A JSON object given on the command line (e.g. {@code --map_keys '{"question": "prompt"}'}), strictly. */
  private static JsonElement objectFromCommandLine(ConfigKey key, String raw, String where) {
    try {
      return StrictJson.parse(raw);
    } catch (StrictJson.Invalid e) {
      throw new ConfigException(where + ": '" + key.jsonName() + "' must be " + describe(key.kind()) + ", got '"
          + raw + "' (" + e.getMessage() + ")");
    }
  }

  /** {@code a,b,c}: numbers where every item parses as one, strings otherwise. */
  private static JsonElement listFromCommandLine(String raw) {
    com.google.gson.JsonArray out = new com.google.gson.JsonArray();
    if (raw.isBlank()) {
      return out;
    }
    String[] items = raw.split(",");
    boolean numbers = java.util.Arrays.stream(items).allMatch(i -> i.trim().matches("[-+0-9.eE]+"));
    for (String item : items) {
      // BigDecimal keeps a number as typed ("2" stays 2, not 2.0, in resolved_config.json and messages).
      out.add(numbers ? new JsonPrimitive(new java.math.BigDecimal(item.trim())) : new JsonPrimitive(item.trim()));
    }
    return out;
  }

  private static ConfigKey known(String name, String where) {
    return ConfigKey.find(name).orElseThrow(() -> new ConfigException(
        where + ": unknown key '" + name + "'; did you mean '" + ConfigKey.closest(name)
            + "'? (docs/configuration.md lists every key)"));
  }

  private static void checkType(ConfigKey key, JsonElement v, String where) {
    if (key.kind() == ConfigKey.Kind.LIST) {
      boolean primitives = v.isJsonArray() && v.getAsJsonArray().asList().stream().allMatch(JsonElement::isJsonPrimitive);
      if (!primitives) {
        throw new ConfigException(
            where + ": '" + key.jsonName() + "' must be " + describe(key.kind()) + ", got " + v);
      }
      return;
    }
    if (key.kind() == ConfigKey.Kind.OBJECT) {
      boolean strings = v.isJsonObject() && v.getAsJsonObject().entrySet().stream()
          .allMatch(e -> e.getValue().isJsonPrimitive() && e.getValue().getAsJsonPrimitive().isString());
      if (!strings) {
        throw new ConfigException(
            where + ": '" + key.jsonName() + "' must be " + describe(key.kind()) + ", got " + v);
      }
      return;
    }
    boolean ok = v.isJsonPrimitive() && switch (key.kind()) {
      case INT -> v.getAsJsonPrimitive().isNumber()
          && v.getAsDouble() == Math.rint(v.getAsDouble())
          && Math.abs(v.getAsDouble()) <= Integer.MAX_VALUE;
      case NUMBER -> v.getAsJsonPrimitive().isNumber() && Double.isFinite(v.getAsDouble());
      case BOOL -> v.getAsJsonPrimitive().isBoolean();
      case STRING -> v.getAsJsonPrimitive().isString();
      case OBJECT, LIST -> false;
    };
    if (!ok) {
      throw new ConfigException(
          where + ": '" + key.jsonName() + "' must be " + describe(key.kind()) + ", got " + v);
    }
  }

  /** The key's own range, from its {@link ConfigKey} entry. */
  private static void checkValue(ConfigKey key, JsonElement v, String where) {
    String problem = key.valid().problem(key, v);
    if (problem != null) {
      throw new ConfigException(where + ": " + problem);
    }
  }

  private static String describe(ConfigKey.Kind kind) {
    return switch (kind) {
      case INT -> "an integer";
      case NUMBER -> "a finite number";
      case BOOL -> "true or false";
      case STRING -> "a string";
      case OBJECT -> "a JSON object of strings";
      case LIST -> "a JSON array (or one value)";
    };
  }

  /**
   * The line of the top-level member {@code key} in a JSON object's text, or 1 when it is not found.
   * Only member names of the outermost object count: the same characters inside a string value or a
   * nested object are skipped.
   */
  static int lineOf(String text, String key) {
    int line = 1;
    int depth = 0;
    for (int i = 0; i < text.length(); i++) {
      char c = text.charAt(i);
      if (c == '\n') {
        line++;
      } else if (c == '{' || c == '[') {
        depth++;
      } else if (c == '}' || c == ']') {
        depth--;
      } else if (c == '"') {
        int end = endOfString(text, i);
        if (end <= i) {
          break;
        }
        if (depth == 1 && text.substring(i + 1, end).equals(key) && nextIsColon(text, end + 1)) {
          return line;
        }
        i = end;
      }
    }
    return 1;
  }

  /** Index of the quote that closes the string opened at {@code open}, skipping escapes. */
  private static int endOfString(String text, int open) {
    int i = open + 1;
    while (i < text.length() && text.charAt(i) != '"') {
      i += text.charAt(i) == '\\' ? 2 : 1;
    }
    return Math.min(i, text.length() - 1);
  }

  private static boolean nextIsColon(String text, int from) {
    int i = from;
    while (i < text.length() && Character.isWhitespace(text.charAt(i))) {
      i++;
    }
    return i < text.length() && text.charAt(i) == ':';
  }

  private static void check(Sources s, ConfigKey key, Object value, boolean ok, String expected) {
    if (!ok) {
      throw new ConfigException(
          s.where(key) + ": '" + key.jsonName() + "' is " + value + "; it must be " + expected);
    }
  }

  /** Where each key's value came from, for error messages. */
  static final class Sources {
    private final Map<ConfigKey, String> origin = new LinkedHashMap<>();

    void put(ConfigKey key, String where) {
      origin.put(key, where);
    }

    String where(ConfigKey key) {
      return origin.getOrDefault(key, "default");
    }

    List<ConfigKey> given() {
      return new ArrayList<>(origin.keySet());
    }
  }
}
