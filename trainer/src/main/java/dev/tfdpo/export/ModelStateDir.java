package dev.tfdpo.export;

import dev.tfdpo.io.checkpoint.CheckpointLocator;
import dev.tfdpo.io.checkpoint.CheckpointVerifier;
import dev.tfdpo.io.checkpoint.Checkpoints;
import dev.tfdpo.io.hf.HfExport;
import dev.tfdpo.io.hf.PeftAdapter;
import dev.tfdpo.io.hf.LlamaConfig;
import dev.tfdpo.io.hf.LlamaWeights;
import dev.tfdpo.io.safetensors.SafeTensorsReader;
import dev.tfdpo.trainer.DpoTrainer;
import dev.tfdpo.trainer.ProjectPaths;
import dev.tfdpo.trainer.RunFingerprint;
import dev.tfdpo.trainer.config.ConfigException;
import dev.tfdpo.trainer.config.ModelArgs;
import dev.tfdpo.trainer.config.TrainConfig;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * The directory an export reads: a {@code checkpoint-N/} directory, the root of a finished run's
 * {@code output_dir}, or any Hugging Face model directory.
 *
 * <p>It holds the policy's weights under Hugging Face names ({@code model.safetensors}, or shards with
 * {@code model.safetensors.index.json}), {@code config.json} and the tokenizer files; a training run's
 * state also has {@code resolved_config.json} (beta, the base model) and, when the reference changed
 * during training, {@code reference.safetensors}.
 *
 * @param directory the directory holding the weights
 * @param origin how it was chosen, for the log
 * @param config the architecture, from its {@code config.json}
 * @param run the run's resolved config, when the directory has one that this version reads
 * @param runProblem why the directory's resolved config could not be read, if it could not
 * @param adapter a LoRA run's PEFT adapter, when the directory holds one instead of model weights (the
 *     policy is then the run's base model with the adapter merged in)
 */
public record ModelStateDir(
    Path directory, String origin, LlamaConfig config, Optional<TrainConfig> run, Optional<String> runProblem,
    Optional<PeftAdapter> adapter) {

  /** The reference's weights, present only when the reference changes during training. */
  public static final String REFERENCE_FILE = "reference.safetensors";

  /**
   * Resolves {@code src}: a directory with weights is used as it is (verified first when it is a
   * checkpoint with a manifest); an output directory whose root holds no weights but has {@code
   * checkpoint-N} directories gives its newest checkpoint that verifies.
   */
  public static ModelStateDir resolve(Path src) throws IOException {
    Path dir = src.toAbsolutePath().normalize();
    if (!Files.isDirectory(dir)) {
      throw new ConfigException(src + " is not a directory: give a checkpoint-N directory, a run's output_dir or a"
          + " Hugging Face model directory");
    }
    String origin;
    if (hasWeights(dir) || hasAdapter(dir)) {
      origin = dir.toString();
      if (Files.isRegularFile(dir.resolve(Checkpoints.MANIFEST))) {
        CheckpointVerifier.Verification v = CheckpointVerifier.verify(dir);
        if (!v.ok()) {
          throw new ConfigException(dir + " fails verification against its " + Checkpoints.MANIFEST + ": "
              + v.describe() + ". Export another checkpoint, or the run's output_dir to take the newest intact one");
        }
        origin += " (" + v.describe() + ")";
      }
    } else if (!Checkpoints.list(dir).isEmpty()) {
      CheckpointLocator.Resolution r = CheckpointLocator.resolve(dir, CheckpointLocator.AUTO);
      if (!r.found()) {
        throw new ConfigException(dir + " holds no model and no usable checkpoint: " + r.reason()
            + (r.skipped().isEmpty() ? "" : " (" + r.skipped() + ")"));
      }
      dir = r.checkpoint().get();
      origin = dir + " (" + r.reason() + ")";
      if (!hasWeights(dir) && !hasAdapter(dir)) {
        throw new ConfigException(dir + " has no " + SafeTensorsReader.SINGLE_FILE + " or "
            + SafeTensorsReader.INDEX_FILE + ": it is not a checkpoint this version can export");
      }
    } else {
      throw new ConfigException(dir + " has no " + SafeTensorsReader.SINGLE_FILE + ", no "
          + SafeTensorsReader.INDEX_FILE + " and no checkpoint-N directories: give a checkpoint-N directory,"
          + " a run's output_dir or a Hugging Face model directory");
    }
    boolean lora = !hasWeights(dir);
    Path runFile = dir.resolve(DpoTrainer.CONFIG_FILE);
    if (!lora) {
      checkOneRun(dir, runFile);
    }
    Optional<TrainConfig> run = Optional.empty();
    Optional<String> runProblem = Optional.empty();
    if (Files.isRegularFile(runFile)) {
      // Only the SavedModel needs the run's config: a file this version cannot read must not stop an
      // export to Hugging Face format, so the problem is kept until something asks for the config.
      try {
        run = Optional.of(TrainConfig.load(runFile, List.of()));
      } catch (ConfigException unreadable) {
        runProblem = Optional.of(unreadable.getMessage());
      }
    }
    if (!lora) {
      return new ModelStateDir(dir, origin, LlamaConfig.read(dir), run, runProblem, Optional.empty());
    }
    ModelStateDir partial = new ModelStateDir(dir, origin, null, run, runProblem, Optional.empty());
    Path base = partial.loraBase();
    return new ModelStateDir(dir, origin + " (LoRA adapter on " + base + ")", LlamaConfig.read(base), run, runProblem,
        Optional.of(PeftAdapter.read(dir)));
  }

  /** Whether {@code dir} holds a PEFT adapter ({@code adapter_model.safetensors}). */
  public static boolean hasAdapter(Path dir) {
    return Files.isRegularFile(dir.resolve(PeftAdapter.WEIGHTS_FILE));
  }

  /** A LoRA run's frozen base: its model_name_or_path, which must still have its weights. */
  private Path loraBase() throws IOException {
    String named = requireRun("the base model of the LoRA adapter").model().modelNameOrPath();
    Path base = ProjectPaths.resolve(named);
    if (!hasWeights(base)) {
      throw new IOException("the LoRA run's base model " + base + " (model_name_or_path '" + named + "' in "
          + directory.resolve(DpoTrainer.CONFIG_FILE) + ") has no weights; run the export from the directory"
          + " training ran in, or restore that model there");
    }
    return base;
  }

  /** Where the policy's (base) weights are: the directory itself, or a LoRA run's base model. */
  public Path weightsDirectory() throws IOException {
    return adapter.isPresent() ? loraBase() : directory;
  }

  /** Every policy weight by Hugging Face name, a LoRA adapter merged in ({@link PeftAdapter#mergeInto}). */
  public Map<String, float[]> policyWeights() throws IOException {
    Map<String, float[]> weights = readAll(weightsDirectory());
    adapter.ifPresent(a -> a.mergeInto(weights));
    return weights;
  }

  private Map<String, float[]> readAll(Path dir) throws IOException {
    Map<String, float[]> weights = new LinkedHashMap<>();
    try (SafeTensorsReader reader = SafeTensorsReader.open(dir)) {
      for (LlamaWeights.Entry e : LlamaWeights.of(config()).entries()) {
        if (!reader.contains(e.hfName())) {
          throw new ConfigException(reader.source() + ": missing tensor '" + e.hfName() + "' that "
              + dir.resolve(HfExport.CONFIG) + " requires");
        }
        weights.put(e.hfName(), reader.readFloats(e.hfName()));
      }
    }
    return weights;
  }

  /**
   * A LoRA run's reference with a starting adapter ({@code lora_path}): the base with that adapter merged
   * in; empty when the reference is a model directory as it is ({@link #referenceWeights()}).
   */
  public Optional<Map<String, float[]>> mergedReference() throws IOException {
    if (adapter.isEmpty()) {
      return Optional.empty();
    }
    String start = requireRun("the LoRA run's reference").model().loraPath();
    if (start.isEmpty()) {
      return Optional.empty(); // the adapter started at zero: the reference is the base
    }
    Map<String, float[]> weights = readAll(loraBase());
    PeftAdapter.read(ProjectPaths.resolve(start)).mergeInto(weights);
    return Optional.of(weights);
  }

  /**
   * The weights and {@code resolved_config.json} must come from the same run: both carry the trainer's
   * run fingerprint ({@link RunFingerprint}), and so must every line of its {@code metrics.jsonl}. Files
   * without one (older versions, other tools) pass.
   */
  static void checkOneRun(Path dir, Path runFile) throws IOException {
    if (!Files.isRegularFile(runFile)) {
      return;
    }
    String configRun = RunFingerprint.of(runFile).orElse(null);
    if (configRun != null) {
      RunFingerprint.checkMetrics(dir.resolve(DpoTrainer.METRICS_FILE), configRun,
          "export one of its checkpoint-N directories");
    }
    String weightsRun;
    try (SafeTensorsReader reader = SafeTensorsReader.open(dir)) {
      weightsRun = reader.metadata().get(TrainConfig.RUN_ID);
    }
    if (configRun != null && weightsRun != null && !configRun.equals(weightsRun)) {
      throw new ConfigException(dir + " mixes two runs: its weights come from run " + weightsRun + " but "
          + runFile.getFileName() + " from run " + configRun + "; export one of its checkpoint-N directories");
    }
  }

  /** Whether {@code dir} holds model weights (one file or an index of shards). */
  public static boolean hasWeights(Path dir) {
    return Files.isRegularFile(dir.resolve(SafeTensorsReader.SINGLE_FILE))
        || Files.isRegularFile(dir.resolve(SafeTensorsReader.INDEX_FILE));
  }

  /** Opens the policy's weights (a LoRA run's policy is {@link #policyWeights()}). */
  public SafeTensorsReader openPolicy() throws IOException {
    if (adapter.isPresent()) {
      throw new IllegalStateException("a LoRA run's policy is its base with the adapter merged: use policyWeights()");
    }
    return SafeTensorsReader.open(directory);
  }

  /** The run's resolved config; its absence is an error naming what needed it. */
  public TrainConfig requireRun(String forWhat) throws IOException {
    if (runProblem.isPresent()) {
      throw new ConfigException(forWhat + " comes from " + directory.resolve(DpoTrainer.CONFIG_FILE)
          + ", which cannot be read: " + runProblem.get());
    }
    return run.orElseThrow(() -> new ConfigException(
        directory + " has no " + DpoTrainer.CONFIG_FILE + ", which " + forWhat + " needs: export a"
            + " checkpoint-N directory or output_dir of a training run"));
  }

  /** DPO's beta of the run. */
  public double beta() throws IOException {
    return requireRun("the reward signature's beta").dpo().beta();
  }

  /**
   * Where the reference's weights are: {@link #REFERENCE_FILE} when the run saved one (the reference
   * changed during training), else the run's starting model.
   */
  public Path referenceWeights() throws IOException {
    Path saved = directory.resolve(REFERENCE_FILE);
    if (Files.isRegularFile(saved)) {
      return saved;
    }
    ModelArgs runModel = requireRun("the reference model").model();
    // The run's reference: ref_model_name_or_path when it had one, else its starting model.
    String named = runModel.refModelNameOrPath().isEmpty() ? runModel.modelNameOrPath() : runModel.refModelNameOrPath();
    Path base = ProjectPaths.resolve(named);
    if (!hasWeights(base)) {
      throw new ConfigException("the reference model " + base + " (model or ref_model_name_or_path '" + named + "' in "
          + directory.resolve(DpoTrainer.CONFIG_FILE) + ") has no weights; run the export from the directory"
          + " training ran in, or restore that model there");
    }
    return base;
  }

  /**
   * The training run's starting model directory, for files a checkpoint may lack (tokenizer, generation
   * config); empty when there is no run config or it does not exist any more.
   */
  public Optional<Path> baseModel() {
    return run.map(r -> ProjectPaths.resolve(r.model().modelNameOrPath())).filter(Files::isDirectory);
  }

  /** Reads the policy and writes it into {@code outDir} (which must exist) as a Hugging Face model directory. */
  public List<Path> exportHf(Path outDir, HfExport.Options options) throws IOException {
    return HfExport.write(outDir, config(), policyWeights(), weightsDirectory(), baseModel(), options);
  }
}
