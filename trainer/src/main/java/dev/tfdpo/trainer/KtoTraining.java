package dev.tfdpo.trainer;

import dev.tfdpo.data.DataOptions;
import dev.tfdpo.data.DataSummary;
import dev.tfdpo.data.DatasetLoader;
import dev.tfdpo.data.ListPairSource;
import dev.tfdpo.data.LoadedDataset;
import dev.tfdpo.data.LoadedUnpaired;
import dev.tfdpo.data.PairSource;
import dev.tfdpo.data.PreprocessedFile;
import dev.tfdpo.data.TokenizedCompletion;
import dev.tfdpo.data.TokenizedPair;
import dev.tfdpo.data.TruncationMode;
import dev.tfdpo.graphs.training.Batch;
import dev.tfdpo.graphs.training.KtoObjective;
import dev.tfdpo.graphs.training.Objective;
import dev.tfdpo.io.hf.LlamaConfig;
import dev.tfdpo.trainer.config.ConfigException;
import dev.tfdpo.trainer.config.ConfigKey;
import dev.tfdpo.trainer.config.DpoArgs;
import dev.tfdpo.trainer.config.TrainConfig;
import dev.tfdpo.ops.Precision;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * KTO (TRL 1.13's KTOTrainer) as a {@link TrainingObjective}: unpaired rows judged desirable or not.
 *
 * <p>Data: unpaired rows in any of the data layer's KTO formats (TRL {@code prompt/completion/label},
 * PaddleNLP {@code paddlenlp_kto}, LLaMA-Factory / ms-swift {@code messages} + {@code label}); a file of
 * preference pairs is split as TRL's {@code unpair_preference_dataset} does it (per 1000 pairs: every
 * chosen row, desirable, then every rejected row). KL rows as TRL builds them: the completions rotated by
 * +1 within consecutive chunks of {@code per_device_train_batch_size} rows in data order, (x1,y1) ..
 * (xn,yn) -> (x1,yn), (x2,y1), .., (xn,y(n-1)), each cut to {@code max_seq_len} with its prompt.
 *
 * <p>Layout: row i with its KL row is one "pair" (completion, KL completion) of the pair batch builders,
 * so padded and packed batches both work; the batch's labels say which rows are desirable.
 */
final class KtoTraining extends PolicyObjective {

  /** TRL's {@code unpair_preference_dataset} maps in batches of this many pairs. */
  static final int UNPAIR_CHUNK = 1000;

  private final TrainConfig config;
  private final Path modelDir;
  private final LlamaConfig model;
  private final BatchBuilder collator;
  private final KtoObjective graph;
  private ReferenceModel reference;
  private Rows train;
  private Rows dev;

  /** Rows with their KL completions as pairs, their labels, and the data summary. */
  record Rows(PairSource pairs, float[] labels, long[] tokens, DataSummary summary) {}

  KtoTraining(TrainConfig config, Path modelDir, LlamaConfig model) {
    super(new PolicyModel(config, modelDir, model));
    DpoArgs d = config.dpo();
    KtoObjective.LossType type = switch (d.lossType().get(0)) {
      case "kto" -> KtoObjective.LossType.KTO;
      case "apo_zero_unpaired" -> KtoObjective.LossType.APO_ZERO_UNPAIRED;
      default -> throw new ConfigException("rlhf_type kto: loss_type must be kto or apo_zero_unpaired, got "
          + d.lossType());
    };
    if (type == KtoObjective.LossType.KTO) {
      requireKlBatches(config);
    }
    this.config = config;
    this.modelDir = modelDir;
    this.model = model;
    this.collator = BatchBuilder.forConfig(config, model);
    this.graph = new KtoObjective(type, (float) d.beta(), (float) d.desirableWeight(), (float) d.undesirableWeight());
  }

  /**
   * TRL's checks for the KL term: the KL completions are fixed per data-set chunk, so the micro-batches
   * must be those chunks (sequential order), and a chunk of one row has only its own completion.
   */
  private static void requireKlBatches(TrainConfig config) {
    if (!config.data().trainSamplingStrategy().equals("sequential")) {
      throw new ConfigException("rlhf_type kto with loss_type kto estimates the KL term from the other completions"
          + " of each micro-batch, fixed per chunk of per_device_train_batch_size rows in data order, so it needs"
          + " train_sampling_strategy sequential (as TRL's KTOTrainer); set it, or use loss_type apo_zero_unpaired");
    }
    if (config.training().perDeviceTrainBatchSize() <= 1) {
      throw new ConfigException("rlhf_type kto with loss_type kto needs per_device_train_batch_size > 1: with one"
          + " row per micro-batch the KL completion is the row's own and the KL term equals the reward (TRL refuses"
          + " it too)");
    }
  }

  @Override
  public String name() {
    return "kto";
  }

  @Override
  public String unit() {
    return "rows";
  }

  @Override
  public void load(PrintStream out) throws IOException {
    reference = policy.resolveReference();
    int chunk = config.training().perDeviceTrainBatchSize();
    train = rows(ConfigKey.TRAIN_DATASET_PATH, config.data().trainDatasetPath(), chunk);
    out.println(train.summary().format());
    balanceWarning(train.labels(), out);
    if (!config.training().evaluationStrategy().equals("no")) {
      dev = rows(ConfigKey.DEV_DATASET_PATH, config.data().devDatasetPath(), chunk);
      out.println("dev " + dev.summary().format());
    }
    String tokenizer = config.model().tokenizerNameOrPath();
    VocabularyCheck.tokenizer(new LoadedDataset(train.pairs(), train.summary()), modelDir,
        tokenizer.isEmpty() ? null : ProjectPaths.resolve(tokenizer), model);
    VocabularyCheck.ids(train.pairs(), ConfigKey.TRAIN_DATASET_PATH,
        ProjectPaths.resolve(config.data().trainDatasetPath()), model);
    if (dev != null) {
      VocabularyCheck.ids(dev.pairs(), ConfigKey.DEV_DATASET_PATH, ProjectPaths.resolve(config.data().devDatasetPath()),
          model);
    }
  }

  private Rows rows(ConfigKey key, String path, int chunk) throws IOException {
    Path file = ProjectPaths.resolve(path);
    if (!Files.isRegularFile(file)) {
      throw new ConfigException(key.jsonName() + " " + file + " does not exist or is not a file");
    }
    List<TokenizedCompletion> examples;
    DataSummary summary;
    try {
      LoadedUnpaired loaded = DatasetLoader.loadUnpaired(TrainingData.options(config, file, modelDir));
      examples = loaded.examples();
      summary = loaded.summary();
    } catch (DatasetLoader.WrongKind pairs) {
      DataOptions options = TrainingData.options(config, file, modelDir);
      LoadedDataset loaded = DatasetLoader.load(options);
      summary = loaded.summary();
      // A preprocessed file holds only the cut ids: its KL rows rotate those.
      boolean cut = summary.truncated() > 0 && !PreprocessedFile.isPreprocessed(file);
      examples = unpair(loaded.pairs(), cut ? uncut(options) : null);
    }
    if (examples.isEmpty()) {
      throw new IOException(file + ": no usable row (" + summary.format() + ")");
    }
    return withKl(examples, chunk, config.data().maxSeqLen(), summary);
  }

  /**
   * The file's pairs again, not cut to the length limits, by row index: TRL unpairs before it tokenizes,
   * so the KL rows rotate uncut completions ({@link #withKl}). Read only when some pair was cut.
   */
  private static Map<Long, TokenizedPair> uncut(DataOptions options) throws IOException {
    PairSource all = DatasetLoader.load(options.withPacking(false)
        .withLengths(Integer.MAX_VALUE, 0, TruncationMode.KEEP_START)).pairs();
    Map<Long, TokenizedPair> byIndex = new HashMap<>();
    for (int i = 0; i < all.size(); i++) {
      byIndex.put(all.get(i).index(), all.get(i));
    }
    return byIndex;
  }

  /**
   * TRL's {@code unpair_preference_dataset}: per chunk of pairs, the chosen rows, then the rejected ones;
   * each row's uncut completion from {@code uncut} (null: no pair was cut).
   */
  static List<TokenizedCompletion> unpair(PairSource pairs, Map<Long, TokenizedPair> uncut) {
    List<TokenizedCompletion> out = new ArrayList<>(2 * pairs.size());
    for (int start = 0; start < pairs.size(); start += UNPAIR_CHUNK) {
      int end = Math.min(start + UNPAIR_CHUNK, pairs.size());
      for (int i = start; i < end; i++) {
        TokenizedPair p = pairs.get(i);
        int[] full = uncut == null ? p.chosenIds() : uncut.get(p.index()).chosenIds();
        out.add(new TokenizedCompletion(p.index(), p.promptIds(), p.chosenIds(), true, full));
      }
      for (int i = start; i < end; i++) {
        TokenizedPair p = pairs.get(i);
        int[] full = uncut == null ? p.rejectedIds() : uncut.get(p.index()).rejectedIds();
        out.add(new TokenizedCompletion(p.index(), p.promptIds(), p.rejectedIds(), false, full));
      }
    }
    return out;
  }

  /**
   * Each row as the pair (completion, KL completion), the KL completions rotated by +1 within chunks of
   * {@code chunk} rows and cut so that prompt + completion fits {@code maxSeqLen} (TRL's collator keeps
   * the first max_length tokens). The rotated completion is the other row's uncut one: a row whose own
   * prompt was long had its completion cut short, but a shorter prompt leaves its KL row more room. A pair's index is its position, which the reference cache keys on.
   */
  static Rows withKl(List<TokenizedCompletion> rows, int chunk, int maxSeqLen, DataSummary summary) {
    List<TokenizedPair> pairs = new ArrayList<>(rows.size());
    float[] labels = new float[rows.size()];
    long[] tokens = new long[rows.size()];
    for (int i = 0; i < rows.size(); i++) {
      int chunkStart = i - i % chunk;
      int from = i == chunkStart ? Math.min(chunkStart + chunk, rows.size()) - 1 : i - 1;
      TokenizedCompletion row = rows.get(i);
      // TRL rotates the uncut completion ids and only then cuts prompt + KL completion to max_length.
      int[] kl = rows.get(from).fullCompletionIds();
      int room = Math.max(0, maxSeqLen - row.promptIds().length);
      int[] klCut = kl.length > room ? Arrays.copyOf(kl, room) : kl;
      pairs.add(new TokenizedPair(i, row.promptIds(), row.completionIds(), klCut));
      labels[i] = row.desirable() ? 1f : 0f;
      tokens[i] = row.promptIds().length + row.completionIds().length;
    }
    return new Rows(new ListPairSource(pairs), labels, tokens, summary);
  }

  /** TRL's warning when the class weights are outside the range its docs recommend (KTO paper, eq. 8). */
  private void balanceWarning(float[] labels, PrintStream out) {
    int desirableRows = 0;
    for (float l : labels) {
      desirableRows += l > 0 ? 1 : 0;
    }
    String warning = KtoBalance.warning(desirableRows, labels.length - desirableRows,
        config.dpo().desirableWeight(), config.dpo().undesirableWeight());
    if (warning != null) {
      out.println("warning: " + warning);
    }
  }

  @Override
  public Examples<Batch> train() {
    return examples(train, Batch.Origin.TRAIN);
  }

  @Override
  public Examples<Batch> dev() {
    return dev == null ? null : examples(dev, Batch.Origin.DEV);
  }

  /** The rows at some positions: their (row, KL row) pairs, labels and TRL's token count. */
  private record Selected(List<TokenizedPair> pairs, float[] labels, long tokens) {}

  private static Selected select(Rows rows, int[] positions) {
    List<TokenizedPair> selected = new ArrayList<>(positions.length);
    float[] labels = new float[positions.length];
    long tokens = 0;
    for (int k = 0; k < positions.length; k++) {
      selected.add(rows.pairs().get(positions[k]));
      labels[k] = rows.labels()[positions[k]];
      tokens += rows.tokens()[positions[k]]; // TRL counts the rows' attention masks, not the KL rows'
    }
    return new Selected(selected, labels, tokens);
  }

  /**
   * Rows as examples: the pair batch of (row, KL row), with the rows' labels and TRL's token count, named
   * as from data set {@code set} ({@link Batch.Origin}).
   */
  private Examples<Batch> examples(Rows rows, int set) {
    return new Examples<>() {
      @Override
      public int size() {
        return rows.pairs().size();
      }

      @Override
      public Batch batch(int[] positions) {
        Selected s = select(rows, positions);
        return collator.build(s.pairs()).withLabels(s.labels(), s.tokens()).withOrigin(new Batch.Origin(set, positions));
      }

      @Override
      public Batch header(int[] positions) {
        Selected s = select(rows, positions);
        return Collator.header(s.pairs(), s.tokens(), s.labels(), new Batch.Origin(set, positions));
      }
    };
  }

  @Override
  public DataSummary trainSummary() {
    return train.summary();
  }

  @Override
  public DataSummary devSummary() {
    return dev == null ? null : dev.summary();
  }

  /** The graph part: log-probs to the loss and the metrics of one micro-batch. */
  public Objective graph() {
    return graph;
  }

  @Override
  public String headlineMetric() {
    return "rewards/margins";
  }

  @Override
  public String headlineLabel() {
    return "margin";
  }

  /** The reference model this objective reads ({@link ReferenceModel#mode()} NONE when it reads none). */
  public ReferenceModel reference() {
    return reference;
  }

  @Override
  public void prepareReference(int threads, Precision compute, PrintStream out) throws IOException {
    out.println(reference.describe());
    Examples<Batch> rows = train();
    reference.prepare(train.pairs(), rows::batch, 1f, threads, compute, out);
  }
}
