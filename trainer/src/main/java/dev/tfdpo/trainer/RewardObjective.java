package dev.tfdpo.trainer;

import dev.tfdpo.data.DataSummary;
import dev.tfdpo.data.RewardPairs;
import dev.tfdpo.graphs.training.RewardBatch;
import dev.tfdpo.graphs.training.RewardGraph;
import dev.tfdpo.graphs.training.TrainingGraph;
import dev.tfdpo.io.hf.HfExport;
import dev.tfdpo.io.hf.LlamaConfig;
import dev.tfdpo.io.hf.RewardModelExport;
import dev.tfdpo.io.safetensors.SafeTensorsReader;
import dev.tfdpo.graphs.training.Replication;
import dev.tfdpo.ops.AdamW;
import dev.tfdpo.ops.Precision;
import dev.tfdpo.tokenizer.Tokenizer;
import dev.tfdpo.tokenizer.Tokenizers;
import dev.tfdpo.trainer.config.ConfigException;
import dev.tfdpo.trainer.config.TrainConfig;
import dev.tfdpo.trainer.config.TrainingArgs;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * Reward-model training ({@code rlhf_type rm}; TRL's {@code RewardTrainer}, ms-swift's {@code rm}) as a
 * {@link TrainingObjective} of the one loop: a Llama backbone with a scalar head ({@link RewardGraph})
 * trained on preference pairs with the Bradley-Terry loss ({@link dev.tfdpo.ops.RewardLoss}), started
 * from a causal-LM checkpoint (new head, seeded N(0, initializer_range^2)) or a sequence-classification
 * one (its head).
 *
 * <p>What differs from the log-prob objectives is data here, not branches in the loop: pairs tokenized as
 * TRL's RewardTrainer does ({@link RewardPairs}) and collated as right-padded rows ({@link RewardBatch});
 * TRL's metric names ({@code loss, accuracy, min_reward, mean_reward, max_reward, margin}), the console's
 * {@code accuracy}; no reference; the model (final and in checkpoints) written as a Hugging Face {@code
 * LlamaForSequenceClassification} directory. Not implemented for this graph, and refused with a message:
 * {@code use_xla}, {@code devices}, {@code bf16}.
 */
final class RewardObjective implements TrainingObjective<RewardBatch> {

  /** The metric the console prints next to the loss. */
  static final String ACCURACY = "accuracy";

  private final TrainConfig config;
  private final Path modelDir;
  private final LlamaConfig model;
  private Data data;
  private RewardGraph graph;

  RewardObjective(TrainConfig config, Path modelDir, LlamaConfig model) {
    refuseUnsupported(config.training());
    if (config.lora().enabled()) {
      throw new ConfigException("lora is not implemented for rlhf_type rm (the reward graph trains the whole "
          + "backbone and its score head); set lora false / remove sft_type lora");
    }
    this.config = config;
    this.modelDir = modelDir;
    this.model = model;
  }

  /** The loop's options this graph does not implement: refused before anything is written. */
  static void refuseUnsupported(TrainingArgs t) {
    if (!t.devices().isEmpty()) {
      throw new ConfigException("devices is " + t.devices() + ", but data parallelism is not implemented for "
          + "rlhf_type rm (it trains on one device); remove the key");
    }
    if (t.bf16()) {
      throw new ConfigException("bf16 is not implemented for rlhf_type rm (the reward graph computes in float32, "
          + "as the TRL goldens); set bf16 false");
    }
    if (t.useXla()) {
      throw new ConfigException("use_xla is not implemented for rlhf_type rm; set use_xla false");
    }
  }

  @Override
  public String name() {
    return "rm";
  }

  @Override
  public String unit() {
    return "pairs";
  }

  @Override
  public void load(PrintStream out) throws IOException {
    data = Data.load(config, modelDir, model, out);
  }

  @Override
  public Examples<RewardBatch> train() {
    return data.examples(data.train());
  }

  @Override
  public Examples<RewardBatch> dev() {
    return data.dev() == null ? null : data.examples(data.dev());
  }

  /** None: the reward data's counts are printed by {@link #load}, no {@code data_summary.json} is kept. */
  @Override
  public DataSummary trainSummary() {
    return null;
  }

  @Override
  public DataSummary devSummary() {
    return null;
  }

  @Override
  public String headlineMetric() {
    return ACCURACY;
  }

  @Override
  public List<Path> weightDirs() {
    return List.of(modelDir);
  }

  /** Nothing: a reward model reads no reference. */
  @Override
  public void prepareReference(int threads, Precision compute, PrintStream out) {}

  @Override
  public TrainingGraph<RewardBatch> build(AdamW.Hyper adam, Replication replication) {
    if (replication.replicas() > 1) {
      throw new IllegalStateException("the reward graph has one replica; devices are refused at config time");
    }
    TrainingArgs t = config.training();
    graph = RewardGraph.build(new RewardGraph.Settings(
        model, config.dpo().centerRewardsCoefficient(), adam, t.maxGradNorm(), t.numThreads()));
    return graph;
  }

  /** The backbone, and the head from the checkpoint or drawn with {@code seed}. */
  @Override
  public void loadWeights(SafeTensorsReader weights, PrintStream out) throws IOException {
    long seed = config.training().seed();
    boolean headFromFile = graph.load(weights, RewardModelExport.initializerRange(modelDir), seed);
    out.printf("reward model: %s backbone, %s; %.1f MB of variables (weights, gradient accumulators, Adam m and v)%n",
        RewardModelExport.isSequenceClassifier(modelDir) ? "sequence-classification" : "causal-LM",
        headFromFile ? "score.weight from the checkpoint"
            : "new score.weight drawn from N(0, initializer_range^2) with seed " + seed,
        graph.variableBytes() / 1e6);
  }

  /** A Hugging Face {@code LlamaForSequenceClassification} directory. */
  @Override
  public List<Path> writeModel(Path dir, Map<String, String> metadata) throws IOException {
    return RewardModelExport.write(dir, modelDir, model, graph.weights(), data.padId(),
        HfExport.Options.DEFAULT.withMetadata(metadata));
  }

  @Override
  public String modelFiles() {
    return "config.json (LlamaForSequenceClassification) and tokenizer files";
  }

  /** The training and dev pairs, tokenized as TRL's RewardTrainer does, and the pad id. */
  record Data(RewardPairs.Loaded train, RewardPairs.Loaded dev, int padId) {

    static Data load(TrainConfig config, Path modelDir, LlamaConfig model, PrintStream out) throws IOException {
      String override = config.model().tokenizerNameOrPath();
      try (Tokenizer tok = Tokenizers.load(modelDir, override.isEmpty() ? null : ProjectPaths.resolve(override))) {
        // TRL: the tokenizer's pad token, else its EOS (transformers then skips it to find the score token).
        int pad = tok.padId() >= 0 ? tok.padId() : tok.eosId();
        if (pad < 0) {
          throw new ConfigException("the tokenizer of " + modelDir + " has neither a pad nor an EOS token; a reward "
              + "model needs one to pad rows and to find each row's score token");
        }
        int maxLength = config.data().maxSeqLen();
        Path trainPath = ProjectPaths.resolve(config.data().trainDatasetPath());
        RewardPairs.Loaded train = RewardPairs.load(trainPath, tok, maxLength);
        describe(out, "train", trainPath, train, maxLength);
        RewardPairs.Loaded dev = null;
        if (!config.data().devDatasetPath().isEmpty()) {
          Path devPath = ProjectPaths.resolve(config.data().devDatasetPath());
          dev = RewardPairs.load(devPath, tok, maxLength);
          describe(out, "dev", devPath, dev, maxLength);
        } else if (!config.training().evaluationStrategy().equals("no")) {
          throw new ConfigException("evaluation_strategy is '" + config.training().evaluationStrategy()
              + "' but dev_dataset_path is empty; give a dev set or set evaluation_strategy no");
        }
        checkIds(train, model, trainPath);
        if (dev != null) {
          checkIds(dev, model, ProjectPaths.resolve(config.data().devDatasetPath()));
        }
        return new Data(train, dev, pad);
      }
    }

    private static void describe(PrintStream out, String what, Path path, RewardPairs.Loaded d, int maxLength) {
      out.printf("%s data %s: %d pairs%s%s%n", what, path, d.pairs().size(),
          d.dropped() > 0 ? ", " + d.dropped() + " dropped (a side longer than max_length " + maxLength + ", as TRL)" : "",
          d.hasMargin() ? ", with a margin column" : "");
    }

    private static void checkIds(RewardPairs.Loaded d, LlamaConfig model, Path file) {
      for (RewardPairs.Pair p : d.pairs()) {
        for (int[] ids : List.of(p.chosen(), p.rejected())) {
          for (int id : ids) {
            if (id < 0 || id >= model.vocabSize()) {
              throw new ConfigException(file + ": row " + (p.index() + 1) + " has token id " + id
                  + ", outside the model's vocabulary [0, " + model.vocabSize() + ")");
            }
          }
        }
      }
    }

    /** {@code set} as examples: a micro-batch is {@link #batch}'s layout of the pairs at the positions. */
    Examples<RewardBatch> examples(RewardPairs.Loaded set) {
      return new Examples<>() {
        @Override
        public int size() {
          return set.pairs().size();
        }

        @Override
        public RewardBatch batch(int[] positions) {
          return Data.this.batch(set, positions);
        }
      };
    }

    /** The pairs at {@code positions} of {@code set}, as one right-padded micro-batch. */
    RewardBatch batch(RewardPairs.Loaded set, int[] positions) {
      int n = positions.length;
      int[][] chosen = new int[n][];
      int[][] rejected = new int[n][];
      float[] margins = new float[n];
      long[] index = new long[n];
      for (int i = 0; i < n; i++) {
        RewardPairs.Pair p = set.pairs().get(positions[i]);
        chosen[i] = p.chosen();
        rejected[i] = p.rejected();
        margins[i] = p.margin();
        index[i] = p.index();
      }
      return RewardBatch.collate(chosen, rejected, margins, index, padId);
    }
  }
}
