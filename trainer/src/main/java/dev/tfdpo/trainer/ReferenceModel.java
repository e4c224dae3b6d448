package dev.tfdpo.trainer;

import dev.tfdpo.data.PairSource;
import dev.tfdpo.graphs.training.Batch;
import dev.tfdpo.graphs.training.DpoGraph;
import dev.tfdpo.io.hf.LlamaConfig;
import dev.tfdpo.io.hf.LlamaWeights;
import dev.tfdpo.io.safetensors.SafeTensorsReader;
import dev.tfdpo.ops.CompletionLogProbs;
import dev.tfdpo.ops.Precision;
import dev.tfdpo.trainer.config.ConfigException;
import dev.tfdpo.trainer.config.ReferenceOptions;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.function.Function;

/**
 * The reference model of a run, from its options ({@link ReferenceOptions}): which {@link
 * DpoGraph.ReferenceMode} the graph is built in, where the reference weights come from, the
 * precomputed log-probs and the sync after optimizer steps.
 *
 * <p>Use: {@link #resolve} (checks the reference directory against the policy), {@link #prepare}
 * before the training graph is built (runs or reuses the precompute pass), {@link #graph} for
 * {@link DpoGraph.Settings}, {@link #load} after building, {@link #fed} per micro-batch and {@link
 * #afterStep} after each optimizer step.
 */
public final class ReferenceModel {

  /** Tokenizer files compared between the policy's and the reference's directories. */
  static final List<String> TOKENIZER_FILES = List.of("tokenizer.json", "tokenizer.model");

  private final ReferenceOptions options;
  private final DpoGraph.ReferenceMode mode;
  private final Path policyDir;
  private final Path dir;
  private final LlamaConfig model;
  private ReferenceLogps precomputed;
  private ReferenceLogps.StartAdapter startAdapter;
  /** How a precompute pass reads the target logit: as the training graph ({@link #lora}). */
  private CompletionLogProbs.TargetLogit target = CompletionLogProbs.TargetLogit.FROM_LOGITS;

  private ReferenceModel(
      ReferenceOptions options, DpoGraph.ReferenceMode mode, Path policyDir, Path dir, LlamaConfig model) {
    this.options = options;
    this.mode = mode;
    this.policyDir = policyDir;
    this.dir = dir;
    this.model = model;
  }

  /**
   * Resolves the reference of a run whose policy is {@code policyDir} / {@code policy}.
   *
   * @throws ConfigException when {@code ref_model_name_or_path} does not fit the policy
   */
  public static ReferenceModel resolve(ReferenceOptions options, Path policyDir, LlamaConfig policy)
      throws IOException {
    if (options.referenceFree()) {
      return new ReferenceModel(options, DpoGraph.ReferenceMode.NONE, policyDir, null, null);
    }
    DpoGraph.ReferenceMode mode = options.precompute() ? DpoGraph.ReferenceMode.FED : DpoGraph.ReferenceMode.LIVE;
    if (options.modelPath().isEmpty()) {
      return new ReferenceModel(options, mode, policyDir, policyDir, policy);
    }
    Path dir = ProjectPaths.resolve(options.modelPath());
    if (!Files.isRegularFile(dir.resolve("config.json"))) {
      throw new ConfigException("ref_model_name_or_path " + dir + " has no config.json; it must be a Hugging Face"
          + " model directory like model_name_or_path");
    }
    LlamaConfig ref = LlamaConfig.read(dir);
    if (ref.vocabSize() != policy.vocabSize()) {
      throw new ConfigException("ref_model_name_or_path " + dir + ": vocab_size " + ref.vocabSize()
          + " differs from the policy's " + policy.vocabSize() + " (" + policyDir + "); the reference reads the"
          + " same token ids, so it needs the same tokenizer");
    }
    for (String name : TOKENIZER_FILES) {
      Path mine = policyDir.resolve(name);
      Path theirs = dir.resolve(name);
      if (Files.isRegularFile(mine) && Files.isRegularFile(theirs) && Files.mismatch(mine, theirs) != -1) {
        throw new ConfigException("ref_model_name_or_path " + dir + ": " + name + " differs from " + mine
            + "; the reference must use the policy's tokenizer");
      }
    }
    if (options.syncSteps() > 0 && !sameWeights(policy, ref)) {
      throw new ConfigException("ref_model_name_or_path " + dir + " has other weight shapes than the policy ("
          + policyDir + "), so the policy cannot be copied into it; sync_ref_model / ref_model_update_steps"
          + " need the same architecture");
    }
    return new ReferenceModel(options, mode, policyDir, dir, ref);
  }

  private static boolean sameWeights(LlamaConfig a, LlamaConfig b) {
    List<LlamaWeights.Entry> x = LlamaWeights.of(a).entries();
    List<LlamaWeights.Entry> y = LlamaWeights.of(b).entries();
    if (x.size() != y.size()) {
      return false;
    }
    for (int i = 0; i < x.size(); i++) {
      if (!x.get(i).hfName().equals(y.get(i).hfName()) || !Arrays.equals(x.get(i).shape(), y.get(i).shape())) {
        return false;
      }
    }
    return true;
  }

  /**
   * A LoRA run: with {@code lora_path} ({@code adapter} not null) the reference is the base plus this
   * adapter (the precompute pass runs with it; a live reference gets it from the graph's frozen adapter
   * copy); the pass reads the target logit as the LoRA training graph does (its head is frozen).
   */
  public void lora(ReferenceLogps.StartAdapter adapter) {
    this.startAdapter = adapter;
    this.target = CompletionLogProbs.TargetLogit.ROW_PRODUCT;
  }

  /** How the training graph gets the reference log-probs. */
  public DpoGraph.ReferenceMode mode() {
    return mode;
  }

  /** The reference model directory; null when reference-free. */
  public Path dir() {
    return dir;
  }

  /** The precomputed log-probs (FED mode, after {@link #prepare}); null otherwise. */
  public ReferenceLogps precomputed() {
    return precomputed;
  }

  /** The line the run log starts with. */
  public String describe() {
    if (mode == DpoGraph.ReferenceMode.NONE) {
      return options.forcedBy().isEmpty()
          ? "reference: none (reference_free: the reference log-probs are 0)"
          : "reference: none (" + options.forcedBy() + " never reads the reference)";
    }
    String from = dir.equals(policyDir) ? "the starting weights of " + dir : dir.toString();
    if (mode == DpoGraph.ReferenceMode.FED) {
      return "reference: " + from + "; log-probs precomputed before training (cache: " + options.cacheDir() + ")";
    }
    if (options.syncSteps() > 0) {
      return "reference: " + from + "; after every " + options.syncSteps() + " steps reference := "
          + options.syncAlpha() + " * policy + " + (float) (1 - options.syncAlpha()) + " * reference";
    }
    return "reference: " + from + ", frozen";
  }

  /**
   * In FED mode, obtains the reference log-probs of every pair (reusing the cache or running the pass,
   * whose graph is closed before this returns); nothing otherwise. Call before building the training
   * graph.
   *
   * @param collate the trainer's batch builder, from data-set positions
   * @param compute the run's product precision, which the pass computes in
   */
  public void prepare(PairSource pairs, Function<int[], Batch> collate, float ldAlpha, int threads,
      Precision compute, PrintStream out) throws IOException {
    if (mode != DpoGraph.ReferenceMode.FED) {
      return;
    }
    ReferenceLogps.Pass pass = new ReferenceLogps.Pass(options.cacheDir(), dir, model, ldAlpha,
        options.precomputeBatchSize(), threads, compute, startAdapter, target);
    precomputed = ReferenceLogps.obtain(pass, pairs, collate, out);
  }

  /** The reference part of {@link DpoGraph.Settings}. */
  public DpoGraph.Reference graph() {
    return switch (mode) {
      case LIVE -> options.syncSteps() > 0
          ? DpoGraph.Reference.synced(model, options.syncAlpha()) : DpoGraph.Reference.live(model);
      case FED -> DpoGraph.Reference.fed();
      case NONE -> DpoGraph.Reference.none();
    };
  }

  /** Loads a live reference into {@code graph}; {@code policyWeights} is reused when it is the same model. */
  public void load(DpoGraph graph, SafeTensorsReader policyWeights) throws IOException {
    if (mode != DpoGraph.ReferenceMode.LIVE || graph.referenceSharesBase()) {
      return; // a LoRA run's reference runs on the policy's own frozen base
    }
    if (dir.equals(policyDir)) {
      // The same file: copied from the just-loaded policy in the graph when the layouts allow it.
      if (!graph.copyReferenceFromPolicy()) {
        graph.referenceLoader().load(graph.session(), policyWeights);
      }
      return;
    }
    try (SafeTensorsReader weights = SafeTensorsReader.open(dir)) {
      graph.referenceLoader().load(graph.session(), weights);
    }
  }

  /** The batch's fed reference log-probs in FED mode, null otherwise (for {@link DpoGraph#micro}). */
  public float[] fed(Batch batch) {
    return precomputed == null ? null : precomputed.forBatch(batch);
  }

  /**
   * After optimizer step {@code step} (1-based) has been applied: syncs the reference when {@code step}
   * is a multiple of the sync interval (TRL's {@code SyncRefModelCallback.on_step_end} condition).
   *
   * @return true when it synced
   */
  public boolean afterStep(DpoGraph graph, long step) {
    if (mode != DpoGraph.ReferenceMode.LIVE || options.syncSteps() <= 0 || step % options.syncSteps() != 0) {
      return false;
    }
    graph.syncReference();
    return true;
  }
}
