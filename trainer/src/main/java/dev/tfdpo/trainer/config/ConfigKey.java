package dev.tfdpo.trainer.config;

import com.google.gson.JsonElement;
import dev.tfdpo.data.DataOptions;
import dev.tfdpo.data.DatasetFormat;
import dev.tfdpo.data.OnBadRow;
import dev.tfdpo.data.TruncationMode;
import dev.tfdpo.io.Names;
import dev.tfdpo.ops.FDivergence;
import dev.tfdpo.ops.LossSpec;
import dev.tfdpo.ops.LrSchedule;
import com.google.gson.JsonNull;
import com.google.gson.JsonPrimitive;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;

/**
 * Every configuration key, declared once: its name (the constant's lower-case spelling), aliases, JSON
 * type, default, valid values, section and one-line doc. This table is the single source for parsing,
 * the checks of single values and their messages, the saved resolved config and the configuration
 * reference page ({@link ConfigTable#markdown()}, docs/configuration.md).
 */
public enum ConfigKey {
  // Each entry: section, JSON type, default (null: required), valid values, one-line doc, aliases.
  // Adding a key is one entry here plus its use (a component of the section's record, named in
  // camelCase: the JSON name is its snake_case spelling; ConfigTableTest checks the pairing).

  // ---- model ----
  MODEL_NAME_OR_PATH(Section.MODEL, Kind.STRING, null, Valid.ANY,
      "Hugging Face model directory (config.json, safetensors, tokenizer files) of the policy; the reference starts from the same weights unless ref_model_name_or_path is set"),
  TOKENIZER_NAME_OR_PATH(Section.MODEL, Kind.STRING, "", Valid.ANY,
      "tokenizer file or directory overriding the model's (empty: the model directory's tokenizer.json, else tokenizer.model)"),
  REF_MODEL_NAME_OR_PATH(Section.MODEL, Kind.STRING, "", Valid.ANY,
      "MindSpeed --ref-model: Hugging Face model directory of the reference (same vocabulary as the policy); empty: the policy's starting weights"),
  // ---- model: LoRA adapters over a frozen base (issue 15, docs/lora.md) ----
  LORA(Section.MODEL, Kind.BOOL, false, Valid.ANY,
      "PaddleNLP lora / TRL use_peft: train LoRA adapters on the targeted projections over a frozen base; the reference is the starting policy on the same base", "use_peft"),
  SFT_TYPE(Section.MODEL, Kind.STRING, "full", Valid.oneOf(List.of("full", "lora")),
      "ms-swift --sft_type: lora is the same as lora: true; full (the default) trains every weight unless lora is true"),
  LORA_RANK(Section.MODEL, Kind.INT, 8, Valid.POSITIVE_INT,
      "LoRA rank r (PaddleNLP lora_rank, MindSpeed --lora-r, TRL/PEFT r)", "lora_r"),
  LORA_ALPHA(Section.MODEL, Kind.NUMBER, -1.0, Valid.number(v -> v == -1 || v > 0, "-1 or a positive number"),
      "LoRA alpha: the adapter is scaled by alpha / r (rslora: alpha / sqrt(r)); -1 is PaddleNLP's default: 2 * lora_rank, or 4 with rslora"),
  RSLORA(Section.MODEL, Kind.BOOL, false, Valid.ANY,
      "rsLoRA: scale alpha / sqrt(r) instead of alpha / r (PaddleNLP rslora, PEFT use_rslora)", "use_rslora"),
  LORA_PLUS_SCALE(Section.MODEL, Kind.NUMBER, 1.0, Valid.number(v -> v > 0, "a positive number"),
      "LoRA+: the B matrices learn at this times learning_rate; 1 = plain LoRA (PaddleNLP lora_plus_scale)"),
  RSLORA_PLUS(Section.MODEL, Kind.BOOL, false, Valid.ANY,
      "PaddleNLP rslora_plus: rslora with lora_plus_scale 4 and lora_alpha 4 (those keys must then stay at their defaults)"),
  LORA_PATH(Section.MODEL, Kind.STRING, "", Valid.ANY,
      "PEFT adapter directory (adapter_config.json + adapter_model.safetensors) to start from; its r, alpha, rsLoRA and targets are used; the reference keeps a frozen copy of it (MindSpeed --lora-load)", "lora_load"),
  LORA_TARGET_MODULES(Section.MODEL, Kind.LIST, List.of("all-linear"), Valid.ANY,
      "projections to adapt: q_proj k_proj v_proj o_proj gate_proj up_proj down_proj, all-linear (swift ALL), or MindSpeed's linear_qkv linear_proj linear_fc1 linear_fc2"),
  WEIGHT_QUANTIZE_ALGO(Section.MODEL, Kind.STRING, "", Valid.oneOf(List.of("", "weight_only_int8", "nf4")),
      "PaddleNLP: store the frozen base's layer projections quantized, dequantized in the graph per use (needs lora): weight_only_int8 (per-output-channel absmax) or nf4 (QLoRA, blocks of 64); empty: float32"),

  // ---- data ----
  TRAIN_DATASET_PATH(Section.DATA, Kind.STRING, null, Valid.ANY,
      "training data: JSON or JSONL (optionally .gz) in any supported format, or a file from scripts/preprocess.sh"),
  DATASET_FORMAT(Section.DATA, Kind.STRING, DataOptions.DEFAULT_FORMAT, Valid.named(DatasetFormat::byName, "auto or a format name (docs/data.md)"),
      "data format; auto detects it from the fields of the first row"),
  CHAT_TEMPLATE(Section.DATA, Kind.STRING, "", Valid.ANY,
      "for conversational rows: empty = the model's chat_template, or chatml, llama2, llama3, zephyr, plain, or a .jinja file"),
  MAP_KEYS(Section.DATA, Kind.OBJECT, java.util.Map.of(), Valid.ANY,
      "MindSpeed-style field renaming, e.g. {\"prompt\": \"question\", \"query\": \"\"}"),
  MAX_PROMPT_LEN(Section.DATA, Kind.INT, 0, Valid.ANY,
      "limit on prompt tokens; 0 = none (keep_end then uses max_seq_len / 2)"),
  TRUNCATION_MODE(Section.DATA, Kind.STRING, DataOptions.DEFAULT_TRUNCATION.optionName(), Valid.named(TruncationMode::parse, "keep_start, keep_end or drop"),
      "keep_start (TRL: cut the completion tail), keep_end (PaddleNLP: keep the end of the prompt, then cut the responses), drop (remove pairs over the limit)"),
  ON_BAD_ROW(Section.DATA, Kind.STRING, DataOptions.DEFAULT_ON_BAD_ROW.optionName(), Valid.named(OnBadRow::parse, "error or skip"),
      "error: stop before training listing the first 20 bad rows and the total; skip: leave them out and count them"),
  MAX_SEQ_LEN(Section.DATA, Kind.INT, DataOptions.DEFAULT_MAX_SEQ_LEN, Valid.POSITIVE_INT,
      "longest row the model sees: prompt + completion, or with packing prompt + chosen + rejected; TRL's max_length (accepted as an alias); longer pairs are cut or dropped by truncation_mode",
      "max_length"),
  PACKING(Section.DATA, Kind.BOOL, false, Valid.ANY,
      "pack each pair as one [prompt, chosen, rejected] segment (prompt computed once) into rows of max_seq_len tokens, PaddleNLP's layout; false: TRL's padded chosen and rejected rows",
      "flash_mask"),
  GREEDY_ZERO_PADDING(Section.DATA, Kind.BOOL, true, Valid.ANY,
      "with packing: fill rows first-fit (each segment into the first row with room); false: strictly in data order, a new row whenever the next segment does not fit"),
  TRAIN_SAMPLING_STRATEGY(Section.DATA, Kind.STRING, "random", Valid.oneOf(List.of("random", "sequential")),
      "random (shuffled every epoch, seeded by seed + epoch) or sequential (file order, every epoch)"),
  DEV_DATASET_PATH(Section.DATA, Kind.STRING, "", Valid.ANY,
      "evaluation data, read like train_dataset_path (same formats, tokenizer and length options); empty: no evaluation"),

  // ---- training ----
  OUTPUT_DIR(Section.TRAINING, Kind.STRING, "output/dpo", Valid.ANY,
      "where metrics.jsonl, resolved_config.json and the trained model are written"),
  OVERWRITE_OUTPUT_DIR(Section.TRAINING, Kind.BOOL, false, Valid.ANY,
      "Hugging Face's: a new run into an output_dir holding another run's outputs removes them first; false: such a run is refused"),
  PER_DEVICE_TRAIN_BATCH_SIZE(Section.TRAINING, Kind.INT, 1, Valid.POSITIVE_INT, "preference pairs per micro-batch"),
  GRADIENT_ACCUMULATION_STEPS(Section.TRAINING, Kind.INT, 1, Valid.POSITIVE_INT, "micro-batches per optimizer step"),
  MAX_STEPS(Section.TRAINING, Kind.INT, -1, Valid.number(v -> v == -1 || v > 0, "-1 or a positive integer"),
      "optimizer steps to run; -1: num_train_epochs decides"),
  NUM_TRAIN_EPOCHS(Section.TRAINING, Kind.NUMBER, 1.0, Valid.number(v -> v > 0, "a positive number"),
      "epochs when max_steps is -1 (fractions allowed)"),
  LEARNING_RATE(Section.TRAINING, Kind.NUMBER, 1e-6, Valid.number(v -> v >= 0, "a number >= 0"), "peak learning rate"),
  WARMUP_STEPS(Section.TRAINING, Kind.NUMBER, 0.0, Valid.STEPS_OR_FRACTION,
      "linear warmup steps; a value below 1 is a fraction of the total steps (rounded up)"),
  LR_SCHEDULER_TYPE(Section.TRAINING, Kind.STRING, "linear", Valid.oneOf(LrSchedule.configNames()),
      "linear, cosine, constant or constant_with_warmup"),
  WEIGHT_DECAY(Section.TRAINING, Kind.NUMBER, 0.0, Valid.number(v -> v >= 0, "a number >= 0"),
      "AdamW decoupled weight decay on embeddings and projections (never on norms or biases)"),
  MAX_GRAD_NORM(Section.TRAINING, Kind.NUMBER, 1.0, Valid.number(v -> v >= 0, "a number >= 0 (0 disables clipping)"),
      "global gradient-norm clipping; 0 disables clipping"),
  ADAM_BETA1(Section.TRAINING, Kind.NUMBER, 0.9, Valid.UNIT_INTERVAL, "AdamW beta1"),
  ADAM_BETA2(Section.TRAINING, Kind.NUMBER, 0.999, Valid.UNIT_INTERVAL, "AdamW beta2"),
  ADAM_EPSILON(Section.TRAINING, Kind.NUMBER, 1e-8, Valid.number(v -> v > 0, "a positive number"), "AdamW epsilon"),
  LOGGING_STEPS(Section.TRAINING, Kind.INT, 1, Valid.POSITIVE_INT,
      "log every this many optimizer steps (metrics averaged over them)"),
  EVALUATION_STRATEGY(Section.TRAINING, Kind.STRING, "no", Valid.oneOf(List.of("no", "steps", "epoch")),
      "no, steps (every eval_steps optimizer steps) or epoch (at the end of each epoch): when to evaluate on dev_dataset_path; Hugging Face's eval_strategy is accepted as an alias",
      "eval_strategy"),
  EVAL_STEPS(Section.TRAINING, Kind.NUMBER, 0.0, Valid.number(
          v -> v >= 0 && (v < 1 || v == Math.rint(v)),
          "0 (= logging_steps), a whole number of steps, or a fraction in (0, 1) of the total steps"),
      "with evaluation_strategy steps: evaluate every this many optimizer steps; below 1: a fraction of the total steps (rounded up); 0: logging_steps"),
  PER_DEVICE_EVAL_BATCH_SIZE(Section.TRAINING, Kind.INT, 8, Valid.POSITIVE_INT, "preference pairs per evaluation batch"),
  SEED(Section.TRAINING, Kind.INT, 42, Valid.ANY, "seed of the data order"),
  REPORT_TO(Section.TRAINING, Kind.STRING, "tensorboard", Valid.oneOf(List.of("tensorboard", "none")),
      "tensorboard: also write TensorBoard event files to output_dir/runs/; none: metrics.jsonl only"),
  NUM_THREADS(Section.TRAINING, Kind.INT, 0,
      Valid.number(v -> v >= 0, "0 (TensorFlow's default) or a positive integer"),
      "TensorFlow intra/inter-op threads; 0: TensorFlow's default (all cores)"),
  SAVE_STRATEGY(Section.TRAINING, Kind.STRING, "steps", Valid.oneOf(List.of("no", "steps", "epoch")),
      "no; steps: a checkpoint every save_steps and at the last step; epoch: one at each epoch end and at the last step"),
  SAVE_STEPS(Section.TRAINING, Kind.INT, 500, Valid.POSITIVE_INT,
      "optimizer steps between checkpoints (save_strategy steps)"),
  SAVE_TOTAL_LIMIT(Section.TRAINING, Kind.INT, 0, Valid.number(v -> v >= 0, "0 (keep all) or a positive integer"),
      "keep at most this many checkpoints, deleting the oldest; 0 keeps all"),
  RESUME_FROM_CHECKPOINT(Section.TRAINING, Kind.STRING, "", Valid.ANY,
      "a checkpoint directory, or auto: the newest checkpoint in output_dir that verifies (none: start from the model); empty: start from the model"),
  USE_XLA(Section.TRAINING, Kind.BOOL, false, Valid.ANY,
      "compile the training graph with XLA's JIT (auto-clustering, one compile per distinct batch shape; see docs/packing-and-performance.md)"),
  // bf16 mixed precision (issue 14 point 4, docs/precision.md)
  BF16(Section.TRAINING, Kind.BOOL, false, Valid.ANY,
      "bfloat16 mixed precision: matrix products and attention in bfloat16; weights, optimizer state, softmax, log-probs, losses and norms in float32 (torch's CPU autocast, PaddleNLP's bf16)"),
  FP16_OPT_LEVEL(Section.TRAINING, Kind.STRING, "O1", Valid.oneOf(List.of("O1", "O2")),
      "with bf16, PaddleNLP's level: O1 computes in bfloat16; O2 also stores the frozen reference in bfloat16 (half its memory; needs a live reference that is not synced)"),
  // recompute (activation checkpointing), issue 14: docs/memory.md
  RECOMPUTE(Section.TRAINING, Kind.BOOL, false, Valid.ANY,
      "PaddleNLP recompute / TRL gradient_checkpointing: the backward pass recomputes each block's forward from its saved input instead of keeping its activations (less memory, more compute; works with bf16, devices and LoRA, not with use_xla or rlhf_type rm)",
      "gradient_checkpointing"),
  RECOMPUTE_GRANULARITY(Section.TRAINING, Kind.STRING, "full",
      Valid.oneOf(List.of("full", "full_attn", "core_attn")),
      "with recompute: full (whole decoder layer), full_attn (attention block) or core_attn (softmax(QK^T)V only)"),

  // ---- DPO ----
  BETA(Section.DPO, Kind.NUMBER, LossSpec.DEFAULT_BETA, Valid.number(v -> v > 0, "a positive number"),
      "DPO temperature beta"),
  LOSS_TYPE(Section.DPO, Kind.LIST, List.of(LossSpec.DEFAULT_LOSS_TYPE), Valid.ANY,
      "preference loss, or a list of them (JSON array, or comma-separated on the command line); see the loss table"),
  LOSS_WEIGHTS(Section.DPO, Kind.LIST, List.of(), Valid.ANY, "weight of each loss_type in a list; empty: all 1"),
  LABEL_SMOOTHING(Section.DPO, Kind.NUMBER, LossSpec.DEFAULT_LABEL_SMOOTHING,
      Valid.number(LossSpec::labelSmoothingInRange, LossSpec.LABEL_SMOOTHING_RANGE),
      "label smoothing e: cDPO on sigmoid, and robust / exo_pair / aot; 0 <= e < 0.5"),
  DISCOPOP_TAU(Section.DPO, Kind.NUMBER, LossSpec.DEFAULT_DISCOPOP_TAU, Valid.ANY, "discopop temperature tau"),
  DPOP_LAMBDA(Section.DPO, Kind.NUMBER, LossSpec.DEFAULT_DPOP_LAMBDA, Valid.ANY, "dpop penalty lambda"),
  SIMPO_GAMMA(Section.DPO, Kind.NUMBER, LossSpec.DEFAULT_SIMPO_GAMMA, Valid.ANY, "simpo target margin gamma"),
  PREF_LOSS_RATIO(Section.DPO, Kind.NUMBER, LossSpec.DEFAULT_PREF_LOSS_RATIO, Valid.ANY,
      "PaddleNLP: weight of the preference loss in the total"),
  SFT_LOSS_RATIO(Section.DPO, Kind.NUMBER, -1.0, Valid.ANY,
      "PaddleNLP: weight of the chosen-completion NLL (token mean); -1: 1 with orpo, else 0; TRL/ms-swift CPO's cpo_alpha",
      "cpo_alpha"),
  RPO_ALPHA(Section.DPO, Kind.NUMBER, LossSpec.DEFAULT_RPO_ALPHA, Valid.ANY,
      "TRL 0.x / ms-swift RPO: adds alpha x NLL of chosen (token mean)"),
  PREF_FTX(Section.DPO, Kind.NUMBER, LossSpec.DEFAULT_PREF_FTX, Valid.ANY,
      "MindSpeed --pref-ftx: adds ftx x mean over pairs of -(pi_c / n_c)"),
  USE_WEIGHTING(Section.DPO, Kind.BOOL, false, Valid.ANY,
      "WPO: weight each pair by its length-normalised probability (no gradient)"),
  LD_ALPHA(Section.DPO, Kind.NUMBER, LossSpec.DEFAULT_LD_ALPHA, Valid.ANY,
      "LD-DPO: weight of tokens past min(n_c, n_r); 1 = off (TRL's None)"),
  F_DIVERGENCE_TYPE(Section.DPO, Kind.STRING, FDivergence.REVERSE_KL.configName(), Valid.ANY,
      "reverse_kl, forward_kl, js_divergence or alpha_divergence (TRL loss types only)"),
  F_ALPHA_DIVERGENCE_COEF(Section.DPO, Kind.NUMBER, LossSpec.DEFAULT_F_ALPHA_DIVERGENCE_COEF, Valid.ANY,
      "alpha of alpha_divergence"),

  // ---- DPO: the reference model (see docs/reference-model.md) ----
  REFERENCE_FREE(Section.DPO, Kind.BOOL, false, Valid.ANY,
      "PaddleNLP: no reference model, reference log-probs are 0; forced for simpo and orpo"),
  PRECOMPUTE_REF_LOG_PROBS(Section.DPO, Kind.BOOL, false, Valid.ANY,
      "TRL: compute the reference log-probs in one pass before training and cache them on disk; training holds no reference weights"),
  PRECOMPUTE_REF_BATCH_SIZE(Section.DPO, Kind.INT, 0,
      Valid.number(v -> v >= 0, "0 (per_device_train_batch_size) or a positive integer"),
      "TRL: pairs per batch of that pass; 0: per_device_train_batch_size"),
  REF_CACHE_DIR(Section.DPO, Kind.STRING, "", Valid.ANY,
      "where precomputed reference log-probs are cached; empty: $XDG_CACHE_HOME/tfdpo/ref_logps, else ~/.cache/tfdpo/ref_logps"),
  REF_MODEL_UPDATE_STEPS(Section.DPO, Kind.INT, -1,
      Valid.number(v -> v == -1 || v > 0, "-1 (never) or a positive number of optimizer steps"),
      "PaddleNLP: copy the policy into the reference after every this many optimizer steps; -1: never"),
  SYNC_REF_MODEL(Section.DPO, Kind.BOOL, false, Valid.ANY,
      "TRL TR-DPO: every ref_model_sync_steps steps, reference := alpha * policy + (1 - alpha) * reference"),
  REF_MODEL_MIXUP_ALPHA(Section.DPO, Kind.NUMBER, 0.6,
      Valid.number(v -> v > 0 && v <= 1, "in (0, 1] (1 copies the policy)"),
      "TR-DPO alpha, in (0, 1]; needs sync_ref_model"),
  REF_MODEL_SYNC_STEPS(Section.DPO, Kind.INT, 512,
      Valid.number(v -> v > 0, "a positive number of optimizer steps"),
      "TR-DPO tau: optimizer steps between syncs; needs sync_ref_model"),

  // ---- trainers: which objective the loop trains (docs/trainers.md) ----
  RLHF_TYPE(Section.DPO, Kind.STRING, "dpo", Valid.oneOf(Trainer.NAMES),
      "ms-swift: the trainer: dpo, kto, rm, cpo, orpo or simpo (cpo/orpo/simpo set their loss and defaults as ms-swift does and use no reference)",
      "stage"),
  DESIRABLE_WEIGHT(Section.DPO, Kind.NUMBER, 1.0, Valid.number(v -> v > 0, "a positive number"),
      "KTO (TRL): weight of the desirable rows' losses"),
  UNDESIRABLE_WEIGHT(Section.DPO, Kind.NUMBER, 1.0, Valid.number(v -> v > 0, "a positive number"),
      "KTO (TRL): weight of the undesirable rows' losses"),

  // ---- reward models (rlhf_type rm; docs/trainers.md) ----
  CENTER_REWARDS_COEFFICIENT(Section.DPO, Kind.NUMBER, 0.0, Valid.number(v -> v >= 0, "a number >= 0"),
      "TRL RewardTrainer / ms-swift rm: adds coefficient * mean((r_chosen + r_rejected)^2) to the loss, centring the rewards; 0 = off"),

  // ---- training: data parallelism across devices (issue 16, docs/distributed.md) ----
  DEVICES(Section.TRAINING, Kind.LIST, List.of(), Valid.ANY,
      "data-parallel replicas in this process: a count n (n virtual CPU devices CPU:0..n-1) or device names, e.g. [\"GPU:0\",\"GPU:1\"]; each global micro-batch is per_device_train_batch_size x replicas pairs split across them; empty: one device"),
  ALLREDUCE_BUCKET_MB(Section.TRAINING, Kind.NUMBER, 4.0, Valid.number(v -> v > 0, "a positive number"),
      "with several devices: gradients are summed across replicas in buckets of about this many MB (one collective per bucket per optimizer step)"),
  COLLECTIVE_TIMEOUT_S(Section.TRAINING, Kind.NUMBER, 300.0, Valid.number(v -> v > 0, "a positive number of seconds"),
      "with several devices: a gradient all-reduce that does not complete in this many seconds fails the step (DEADLINE_EXCEEDED) instead of hanging; with TF_CONFIG also the start-up wait for the workers and the hang bound: every task probes the others every this many seconds and ends with status 4 naming one that does not answer within it"),
  PROFILE_STEP(Section.TRAINING, Kind.INT, 0, Valid.number(v -> v >= 0, "0 (off) or an optimizer step number"),
      "trace this optimizer step's session runs with TensorFlow's FULL_TRACE (as Keras' profile_batch) and write output_dir/profile/step-N.trace.json (Chrome trace: chrome://tracing or ui.perfetto.dev) and step-N.ops.txt (kernel time by op type); the traced step runs slower; 0: off"),
  // ---- training: sharded optimizer state (issue 16 point 4, docs/distributed.md) ----
  SHARDING(Section.TRAINING, Kind.STRING, "", Valid.oneOf(List.of("", "stage1")),
      "PaddleNLP sharding / ZeRO-1: stage1 splits the AdamW moments across the devices' replicas (each holds and updates about 1/N of them, same numbers as unsharded); needs 2 or more devices in this process or 2 or more TF_CONFIG workers (the moments then live on their owner's task); \"\": off");

  /** The record a key belongs to. */
  public enum Section {
    MODEL,
    DATA,
    TRAINING,
    DPO
  }

  /** JSON type of a value. */
  public enum Kind {
    INT,
    NUMBER,
    BOOL,
    STRING,
    /** A JSON object of strings; on the command line, its JSON text. */
    OBJECT,
    /** A JSON array (a single value counts as one item); on the command line, comma-separated. */
    LIST
  }

  private final Section section;
  private final Kind kind;
  private final Object defaultValue;
  private final Valid valid;
  private final String doc;
  private final List<String> aliases;

  ConfigKey(Section section, Kind kind, Object defaultValue, Valid valid, String doc, String... aliases) {
    this.section = section;
    this.kind = kind;
    this.defaultValue = defaultValue;
    this.valid = valid;
    this.doc = doc;
    this.aliases = List.of(aliases);
  }

  /** The key as written in JSON and on the command line. */
  public String jsonName() {
    return name().toLowerCase(java.util.Locale.ROOT);
  }

  public Section section() {
    return section;
  }

  public Kind kind() {
    return kind;
  }

  /** Other accepted spellings (e.g. TRL's {@code max_length}). */
  public List<String> aliases() {
    return aliases;
  }

  /** One-line meaning, for docs/configuration.md and error messages. */
  public String doc() {
    return doc;
  }

  /**
   * Whether a resumed run may give this key another value than the checkpoint's run. Only keys that
   * change when the run ends, what is logged, saved or evaluated, or where files go may; every other key
   * changes the data order or the math (batch sizes, accumulation, lengths, packing, loss, seed,
   * sampling, model), so a checkpoint's position and optimizer state would mean something else under it.
   */
  public boolean mayChangeOnResume() {
    return switch (this) {
      case MAX_STEPS, NUM_TRAIN_EPOCHS, LOGGING_STEPS, SAVE_STRATEGY, SAVE_STEPS, SAVE_TOTAL_LIMIT, REPORT_TO,
          RESUME_FROM_CHECKPOINT, OUTPUT_DIR, OVERWRITE_OUTPUT_DIR, NUM_THREADS, EVALUATION_STRATEGY, EVAL_STEPS,
          PER_DEVICE_EVAL_BATCH_SIZE, DEV_DATASET_PATH, REF_CACHE_DIR, RECOMPUTE, RECOMPUTE_GRANULARITY,
          SHARDING, PROFILE_STEP -> true; // same numbers and checkpoint keys sharded or not (ShardedOptimizerTest)
      default -> false;
    };
  }

  /** The values this key accepts on its own (checks across keys are in {@link TrainConfig}). */
  public Valid valid() {
    return valid;
  }

  /** True when the key has no default and must be given. */
  public boolean required() {
    return defaultValue == null;
  }

  /** The default as JSON ({@link JsonNull} when required). */
  public JsonElement defaultJson() {
    if (defaultValue == null) {
      return JsonNull.INSTANCE;
    }
    if (defaultValue instanceof Boolean b) {
      return new JsonPrimitive(b);
    }
    if (kind == Kind.OBJECT || kind == Kind.LIST) {
      return GSON.toJsonTree(defaultValue);
    }
    if (defaultValue instanceof Number n) {
      return new JsonPrimitive(n);
    }
    return new JsonPrimitive(defaultValue.toString());
  }

  /** The default as a Java value (a String, Number, Boolean, List or Map), null when required. */
  public Object defaultValue() {
    return defaultValue;
  }

  /** The key named {@code name} or one of its aliases. */
  public static Optional<ConfigKey> find(String name) {
    return Arrays.stream(values())
        .filter(k -> k.jsonName().equals(name) || k.aliases.contains(name))
        .findFirst();
  }

  /** The known key closest to {@code name} by edit distance, for "did you mean" messages. */
  public static String closest(String name) {
    return Names.closest(name, Arrays.stream(values()).map(ConfigKey::jsonName).toList());
  }

  private static final com.google.gson.Gson GSON = new com.google.gson.Gson();
}
