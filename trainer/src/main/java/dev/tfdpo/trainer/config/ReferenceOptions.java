package dev.tfdpo.trainer.config;

import dev.tfdpo.ops.FDivergence;
import dev.tfdpo.ops.LossSpec;
import dev.tfdpo.ops.PreferenceLoss;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.Set;
import java.util.stream.Collectors;

/**
 * The reference-model options of a run, resolved and checked together.
 *
 * @param referenceFree no reference at all: {@code reference_free}, or forced because no loss type reads
 *     the reference (simpo, orpo, as PaddleNLP forces it)
 * @param forcedBy the loss types that force it, or empty when {@code reference_free} was set (or the
 *     run has a reference)
 * @param modelPath {@code ref_model_name_or_path}; empty: the policy's starting weights
 * @param precompute {@code precompute_ref_log_probs}
 * @param precomputeBatchSize pairs per batch of the pass ({@code per_device_train_batch_size} when 0)
 * @param cacheDir where the precomputed log-probs are cached
 * @param syncSteps optimizer steps between reference updates; 0: never
 * @param syncAlpha weight of the policy in each update (1 for {@code ref_model_update_steps})
 */
public record ReferenceOptions(
    boolean referenceFree,
    String forcedBy,
    String modelPath,
    boolean precompute,
    int precomputeBatchSize,
    Path cacheDir,
    int syncSteps,
    double syncAlpha) {

  /**
   * The loss types {@code reference_free: true} accepts: PaddleNLP's (sigmoid, hinge, ipo, orpo, simpo),
   * TRL's that read the reference only through the margin {@code ref_c - ref_r} (a zero reference is
   * then the "uniform reference" of TRL 0.x's {@code reference_free}), and sft. The others compare each
   * log-ratio with an absolute anchor (nca_pair, bco_pair, sppo_hard, apo_*, aot_unpaired, kto_pair,
   * dpop), so a zero reference changes what they mean; PaddleNLP refuses its ones too.
   */
  public static final Set<PreferenceLoss> REFERENCE_FREE_LOSSES = EnumSet.of(
      PreferenceLoss.SIGMOID, PreferenceLoss.HINGE, PreferenceLoss.IPO, PreferenceLoss.ROBUST,
      PreferenceLoss.EXO_PAIR, PreferenceLoss.AOT, PreferenceLoss.DISCOPOP, PreferenceLoss.SIGMOID_NORM,
      PreferenceLoss.ORPO, PreferenceLoss.SIMPO, PreferenceLoss.SFT);

  /** TRL's default {@code ref_model_mixup_alpha}, from the config table. */
  public static final double DEFAULT_MIXUP_ALPHA = (Double) ConfigKey.REF_MODEL_MIXUP_ALPHA.defaultValue();

  /** TRL's default {@code ref_model_sync_steps}, from the config table. */
  public static final int DEFAULT_SYNC_STEPS = (Integer) ConfigKey.REF_MODEL_SYNC_STEPS.defaultValue();

  /** Default of {@code ref_cache_dir} under the user's cache directory. */
  public static final String CACHE_SUBDIR = "tfdpo/ref_logps";

  /** The options of {@code config} (already validated). */
  public static ReferenceOptions of(TrainConfig config) {
    DpoArgs d = config.dpo();
    Trainer trainer = Trainer.byName(d.rlhfType());
    // Only the loss table's losses can be reference-free by themselves; KTO always reads the reference.
    boolean lossFree = trainer.usesLossTable() && config.lossSpec().referenceFree();
    String forcedBy = trainer.referenceFree() ? "rlhf_type " + trainer.configName()
        : lossFree ? referenceFreeTypes(config.lossSpec()) : "";
    boolean free = d.referenceFree() || lossFree || trainer.referenceFree();
    int syncSteps = d.syncRefModel() ? d.refModelSyncSteps() : Math.max(d.refModelUpdateSteps(), 0);
    double alpha = d.syncRefModel() ? d.refModelMixupAlpha() : 1.0;
    int batch = d.precomputeRefBatchSize() > 0
        ? d.precomputeRefBatchSize() : config.training().perDeviceTrainBatchSize();
    return new ReferenceOptions(free, d.referenceFree() && !trainer.referenceFree() ? "" : forcedBy, config.model().refModelNameOrPath(),
        d.precomputeRefLogProbs(), batch, cacheDir(d.refCacheDir()), syncSteps, alpha);
  }

  private static Path cacheDir(String configured) {
    if (!configured.isEmpty()) {
      return Path.of(configured).toAbsolutePath().normalize();
    }
    String xdg = System.getenv("XDG_CACHE_HOME");
    Path base = xdg != null && !xdg.isEmpty() ? Path.of(xdg) : Path.of(System.getProperty("user.home"), ".cache");
    return base.resolve(CACHE_SUBDIR).toAbsolutePath().normalize();
  }

  /** The loss types that never read the reference, joined with "and". */
  static String referenceFreeTypes(LossSpec spec) {
    return spec.components().stream().map(c -> c.loss()).filter(l -> !l.usesReference() && !l.isSft())
        .map(PreferenceLoss::configName).collect(Collectors.joining(" and "));
  }

  /**
   * Checks the combination (each key's own range is in its {@link ConfigKey} entry); every error names
   * the keys involved and where they were set.
   */
  static void check(TrainConfig c, TrainConfig.Sources s) {
    DpoArgs d = c.dpo();
    // An option that would be parsed and ignored is refused.
    needs(s, ConfigKey.REF_MODEL_MIXUP_ALPHA, d.refModelMixupAlpha() != DEFAULT_MIXUP_ALPHA, ConfigKey.SYNC_REF_MODEL, d.syncRefModel());
    needs(s, ConfigKey.REF_MODEL_SYNC_STEPS, d.refModelSyncSteps() != DEFAULT_SYNC_STEPS, ConfigKey.SYNC_REF_MODEL, d.syncRefModel());
    needs(s, ConfigKey.PRECOMPUTE_REF_BATCH_SIZE, d.precomputeRefBatchSize() != 0,
        ConfigKey.PRECOMPUTE_REF_LOG_PROBS, d.precomputeRefLogProbs());
    needs(s, ConfigKey.REF_CACHE_DIR, !d.refCacheDir().isEmpty(),
        ConfigKey.PRECOMPUTE_REF_LOG_PROBS, d.precomputeRefLogProbs());

    // KTO's loss is not the loss table's: it always reads the reference.
    LossSpec spec = Trainer.byName(d.rlhfType()).usesLossTable() ? c.lossSpec() : null;
    if (spec != null && d.referenceFree()) {
      List<String> refused = new ArrayList<>();
      spec.components().stream().map(x -> x.loss()).filter(l -> !REFERENCE_FREE_LOSSES.contains(l))
          .forEach(l -> refused.add(l.configName()));
      require(refused.isEmpty(),
          s.where(ConfigKey.REFERENCE_FREE) + ": 'reference_free' is true but loss_type " + refused
              + " compares each log-ratio with a fixed anchor, which a zero reference changes; reference_free"
              + " works with " + REFERENCE_FREE_LOSSES.stream().map(PreferenceLoss::configName).toList());
      require(spec.fDivergence() == FDivergence.REVERSE_KL,
          s.where(ConfigKey.REFERENCE_FREE) + ": 'reference_free' is true but 'f_divergence_type' is '"
              + spec.fDivergence().configName() + "' (" + s.where(ConfigKey.F_DIVERGENCE_TYPE)
              + "); the f-divergences other than reverse_kl need real log-ratios");
    }
    if (spec != null && (d.referenceFree() || spec.referenceFree())) {
      String why = d.referenceFree()
          ? "'reference_free' is true (" + s.where(ConfigKey.REFERENCE_FREE) + ")"
          : "loss_type " + referenceFreeTypes(spec) + " never reads the reference (" + s.where(ConfigKey.LOSS_TYPE) + ")";
      for (ConfigKey k : List.of(ConfigKey.PRECOMPUTE_REF_LOG_PROBS, ConfigKey.SYNC_REF_MODEL)) {
        boolean on = k == ConfigKey.SYNC_REF_MODEL ? d.syncRefModel() : d.precomputeRefLogProbs();
        require(!on, s.where(k) + ": '" + k.jsonName() + "' is true but the run has no reference model: "
            + why + "; remove one of them");
      }
      require(d.refModelUpdateSteps() == -1,
          s.where(ConfigKey.REF_MODEL_UPDATE_STEPS) + ": 'ref_model_update_steps' is set but the run has no"
              + " reference model: " + why + "; remove one of them");
      require(c.model().refModelNameOrPath().isEmpty(),
          s.where(ConfigKey.REF_MODEL_NAME_OR_PATH) + ": 'ref_model_name_or_path' is set but the run has no"
              + " reference model: " + why + "; remove one of them");
    }
    boolean refresh = d.syncRefModel() || d.refModelUpdateSteps() > 0;
    ConfigKey refreshKey = d.syncRefModel() ? ConfigKey.SYNC_REF_MODEL : ConfigKey.REF_MODEL_UPDATE_STEPS;
    require(!(d.precomputeRefLogProbs() && refresh),
        s.where(ConfigKey.PRECOMPUTE_REF_LOG_PROBS) + ": 'precompute_ref_log_probs' assumes a fixed reference, but '"
            + refreshKey.jsonName() + "' (" + s.where(refreshKey) + ") updates it during training; use one of them");
    // The cache covers the training pairs only; evaluating would need the reference weights back.
    require(!(d.precomputeRefLogProbs() && !c.data().devDatasetPath().isEmpty()),
        s.where(ConfigKey.PRECOMPUTE_REF_LOG_PROBS) + ": 'precompute_ref_log_probs' caches reference log-probs of the"
            + " training pairs only, and evaluation on 'dev_dataset_path' (" + s.where(ConfigKey.DEV_DATASET_PATH)
            + ") would need the reference model; use one of them");
    require(!(d.syncRefModel() && d.refModelUpdateSteps() > 0),
        s.where(ConfigKey.SYNC_REF_MODEL) + ": 'sync_ref_model' and 'ref_model_update_steps' ("
            + s.where(ConfigKey.REF_MODEL_UPDATE_STEPS) + ") both update the reference; use one of them"
            + " (ref_model_update_steps N is sync_ref_model with ref_model_mixup_alpha 1 and ref_model_sync_steps N)");
  }

  private static void needs(TrainConfig.Sources s, ConfigKey key, boolean set, ConfigKey switchKey, boolean on) {
    require(!set || on, s.where(key) + ": '" + key.jsonName() + "' is only used with '" + switchKey.jsonName()
        + "': true, which is off; set it or remove '" + key.jsonName() + "'");
  }

  private static void require(boolean ok, String message) {
    if (!ok) {
      throw new ConfigException(message);
    }
  }
}
