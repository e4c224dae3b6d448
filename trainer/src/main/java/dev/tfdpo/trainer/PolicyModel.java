package dev.tfdpo.trainer;

import dev.tfdpo.graphs.training.Batch;
import dev.tfdpo.graphs.training.DpoGraph;
import dev.tfdpo.graphs.training.Objective;
import dev.tfdpo.graphs.training.Replication;
import dev.tfdpo.io.hf.HfExport;
import dev.tfdpo.io.hf.LlamaConfig;
import dev.tfdpo.io.safetensors.DType;
import dev.tfdpo.io.safetensors.SafeTensorsReader;
import dev.tfdpo.io.safetensors.SafeTensorsWriter;
import dev.tfdpo.ops.AdamW;
import dev.tfdpo.ops.Precision;
import dev.tfdpo.trainer.config.TrainConfig;
import dev.tfdpo.trainer.config.TrainingArgs;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * The causal-LM side the log-prob objectives share ({@link PairObjective}, {@link KtoTraining}): the
 * policy and its {@link ReferenceModel}, the {@link DpoGraph} built from the objective's graph part, and
 * the trained policy written as a causal-LM directory (a checkpoint also keeps a synced reference, for
 * export's reward signature).
 */
final class PolicyModel {

  private final TrainConfig config;
  private final Path modelDir;
  private final LlamaConfig model;
  private ReferenceModel reference;
  private DpoGraph graph;
  /** The LoRA adapters of a LoRA run ({@code lora} / {@code sft_type lora}); null otherwise. */
  private LoraRun lora;

  PolicyModel(TrainConfig config, Path modelDir, LlamaConfig model) {
    this.config = config;
    this.modelDir = modelDir;
    this.model = model;
  }

  /** Resolves the reference (read-only); call from the objective's {@code load}. */
  ReferenceModel resolveReference() throws IOException {
    reference = ReferenceModel.resolve(config.reference(), modelDir, model);
    lora = LoraRun.resolve(config, model);
    if (lora != null) {
      reference.lora(lora.startAdapter()); // before the precompute pass: the reference needs it
    }
    return reference;
  }

  ReferenceModel reference() {
    return reference;
  }

  /** The policy's directory, and the reference's when it is another one. */
  List<Path> weightDirs() {
    Path ref = reference.dir();
    return ref == null || ref.equals(modelDir) ? List.of(modelDir) : List.of(modelDir, ref);
  }

  /** The training graph of {@code objective} with the run's reference, devices and precision. */
  DpoGraph build(Objective objective, AdamW.Hyper adam, Replication replication) {
    TrainingArgs t = config.training();
    graph = DpoGraph.build(new DpoGraph.Settings(model, objective, adam, t.maxGradNorm(), t.numThreads(),
        reference.graph(), t.useXla(), replication, config.computePrecision(), config.referenceStorage(),
        lora == null ? null : lora.training()).withRecompute(DpoTrainer.recomputeBlocks(t))
        // One micro-batch per step on one replica: the update runs with the backward pass, and the model's
        // worth of gradient accumulators is never allocated.
        .withFusedStep(t.gradientAccumulationSteps() == 1 && replication.replicas() == 1));
    return graph;
  }

  /** The policy's (and a live reference's) starting weights, and the graph's size line. */
  void loadWeights(SafeTensorsReader weights, PrintStream out) throws IOException {
    graph.policyLoader().load(graph.session(), weights);
    if (lora != null) {
      out.println(lora.describe());
      lora.load(graph);
    }
    reference.load(graph, weights);
    String accumulators = graph.fusesStep() ? "" : " gradient accumulators,";
    long mirrored = graph.mirroredVariableBytes();
    out.printf("training graph: %.1f MB of variables (" + (lora != null ? "frozen base, adapters with their"
        + accumulators + " Adam m and v" : "policy," + accumulators + " Adam m and v") + "%s)%s%n",
        (graph.variableBytes() - mirrored) / 1e6, graph.referenceMode() != DpoGraph.ReferenceMode.LIVE
            || graph.referenceSharesBase() ? ""
            : config.referenceStorage() == Precision.BFLOAT16
                ? String.format(", reference in bfloat16: %.1f MB", graph.variableBytes("reference/") / 1e6)
                : ", reference",
        mirrored == 0 ? "" : String.format("; each other replica holds its own copy of the weights it reads"
            + " (%s), %.1f MB in all", lora != null ? "frozen" : config.training().sharding().isEmpty()
                ? "the policy, which it updates with its own Adam m and v" : "the policy, refreshed after each update",
            mirrored / 1e6));
  }

  float[] fed(Batch batch) {
    return reference.fed(batch);
  }

  void afterStep(long step) {
    reference.afterStep(graph, step);
  }

  /**
   * The trained policy as a causal-LM directory; a LoRA run writes its adapter in PEFT's files instead
   * (the frozen base stays model_name_or_path).
   */
  List<Path> write(Path dir, Map<String, String> metadata) throws IOException {
    if (lora != null) {
      return List.of(LoraRun.write(graph, dir, modelDir));
    }
    // Streamed from the session tensor by tensor (SafeTensorsWriter from a TensorSource): no second copy.
    return HfExport.write(dir, model, graph.policySources(), modelDir, Optional.empty(),
        HfExport.Options.DEFAULT.withMetadata(metadata));
  }

  /** The files {@link #write} puts beside the weights, for the closing line. */
  String modelFiles() {
    return lora != null ? "adapter_config.json (PEFT; the base stays model_name_or_path)"
        : "config.json and tokenizer files";
  }

  /** {@link #write}, and a synced reference's weights (export's reward signature needs them). */
  void writeCheckpoint(Path dir, Map<String, String> metadata) throws IOException {
    write(dir, metadata);
    if (graph.referenceSynced()) {
      SafeTensorsWriter.write(dir.resolve(TrainingCheckpoints.REFERENCE_FILE), graph.referenceSources(),
          DType.F32, Map.of("format", "pt"));
    }
  }
}
