package dev.tfdpo.trainer;

import dev.tfdpo.data.DataSummary;
import dev.tfdpo.data.LoadedDataset;
import dev.tfdpo.data.PairSource;
import dev.tfdpo.data.TokenizedPair;
import dev.tfdpo.graphs.training.Batch;
import dev.tfdpo.graphs.training.DpoObjective;
import dev.tfdpo.graphs.training.Objective;
import dev.tfdpo.io.hf.LlamaConfig;
import dev.tfdpo.trainer.config.TrainConfig;
import dev.tfdpo.ops.Precision;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The preference-pair trainers as a {@link TrainingObjective}: DPO with every loss type of the loss
 * table, and CPO, ORPO and SimPO (the same pairs and graph part with a reference-free loss, see {@link
 * TrainingObjectives}). Examples are tokenized pairs; a micro-batch is {@link BatchBuilder}'s padded or
 * packed layout; the graph part is {@link DpoObjective}.
 */
final class PairObjective extends PolicyObjective {

  /** The console's accuracy: the share of pairs whose chosen reward beats the rejected one. */
  static final String ACCURACY = "rewards/accuracies";

  private final String name;
  private final TrainConfig config;
  private final Path modelDir;
  private final LlamaConfig model;
  private final BatchBuilder collator;
  private final DpoObjective graph;
  private ReferenceModel reference;
  private LoadedDataset data;
  private LoadedDataset devData;

  PairObjective(String name, TrainConfig config, Path modelDir, LlamaConfig model) {
    super(new PolicyModel(config, modelDir, model));
    this.name = name;
    this.config = config;
    this.modelDir = modelDir;
    this.model = model;
    this.collator = BatchBuilder.forConfig(config, model);
    this.graph = new DpoObjective(config.lossSpec());
  }

  @Override
  public String name() {
    return name;
  }

  @Override
  public String unit() {
    return "pairs";
  }

  @Override
  public void load(PrintStream out) throws IOException {
    reference = policy.resolveReference();
    data = TrainingData.load(config, modelDir, null);
    out.println(data.summary().format());
    devData = Evaluator.loadDevSet(config, modelDir, out);
    VocabularyCheck.check(config, modelDir, model, data, devData);
  }

  @Override
  public Examples<Batch> train() {
    return examples(data.pairs(), collator, Batch.Origin.TRAIN);
  }

  @Override
  public Examples<Batch> dev() {
    return devData == null ? null : examples(devData.pairs(), collator, Batch.Origin.DEV);
  }

  @Override
  public DataSummary trainSummary() {
    return data.summary();
  }

  @Override
  public DataSummary devSummary() {
    return devData == null ? null : devData.summary();
  }

  /** The graph part: log-probs to the loss and the metrics of one micro-batch. */
  public Objective graph() {
    return graph;
  }

  @Override
  public String headlineMetric() {
    return ACCURACY;
  }

  /** The reference model this objective reads ({@link ReferenceModel#mode()} NONE when it reads none). */
  public ReferenceModel reference() {
    return reference;
  }

  @Override
  public void prepareReference(int threads, Precision compute, PrintStream out) throws IOException {
    out.println(reference.describe());
    Examples<Batch> pairs = train();
    reference.prepare(data.pairs(), pairs::batch, config.lossSpec().ldAlpha(), threads, compute, out);
  }

  /**
   * Pairs as examples: a micro-batch is {@code collator}'s layout of the pairs at the positions, which it
   * names as its origin in data set {@code set} ({@link Batch.Origin}).
   */
  static Examples<Batch> examples(PairSource pairs, BatchBuilder collator, int set) {
    return new Examples<>() {
      @Override
      public int size() {
        return pairs.size();
      }

      @Override
      public Batch batch(int[] positions) {
        return collator.build(select(pairs, positions)).withOrigin(new Batch.Origin(set, positions));
      }

      @Override
      public Batch header(int[] positions) {
        List<TokenizedPair> selected = select(pairs, positions);
        long tokens = 0;
        for (TokenizedPair pair : selected) {
          tokens += pair.tokens(); // as every layout counts them
        }
        return Collator.header(selected, tokens, null, new Batch.Origin(set, positions));
      }
    };
  }

  private static List<TokenizedPair> select(PairSource pairs, int[] positions) {
    List<TokenizedPair> selected = new ArrayList<>(positions.length);
    for (int p : positions) {
      selected.add(pairs.get(p));
    }
    return selected;
  }
}
