package dev.tfdpo.trainer;

import dev.tfdpo.graphs.training.Batch;
import dev.tfdpo.data.LoadedDataset;
import dev.tfdpo.data.PairSource;
import dev.tfdpo.graphs.training.DpoGraph;
import dev.tfdpo.graphs.training.MicroBatch;
import dev.tfdpo.graphs.training.TrainingGraph;
import dev.tfdpo.report.TensorBoardWriter;
import dev.tfdpo.trainer.config.ConfigKey;
import dev.tfdpo.trainer.config.TrainConfig;
import dev.tfdpo.trainer.config.TrainingArgs;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Evaluation on the dev set ({@code dev_dataset_path}) during training, as TRL's DPOTrainer does it on
 * Hugging Face's Trainer: forward passes only ({@link TrainingGraph#evaluate}), the dev pairs in file order in
 * batches of {@code per_device_eval_batch_size} (the last one may be smaller), every metric of a training
 * micro-batch reported with the {@code eval_} prefix.
 *
 * <p>Averaging follows the two libraries exactly. {@code eval_loss} comes from transformers'
 * {@code evaluation_loop}: each batch's loss is repeated once per pair (accelerate's
 * {@code gather_for_metrics} trims the repeat of the last, partial batch to its real size) and the
 * repeats are averaged, so it is the pair-weighted mean of the batch losses. Every other metric comes
 * from TRL's {@code log}: the plain mean of the per-batch values. {@code eval_num_tokens} is, as in TRL,
 * the training token count so far.
 *
 * <p>When: {@code evaluation_strategy steps} after every optimizer step that is a multiple of
 * {@code eval_steps} (default {@code logging_steps}, a value below 1 a fraction of the total steps,
 * rounded up), {@code epoch} at the end of every epoch, including a last one cut short by
 * {@code max_steps}. Hugging Face evaluates after logging, so at a step with both, the training line
 * comes first in {@code metrics.jsonl}; both carry the same {@code step}.
 */
public final class Evaluator {

  /** The dev set's data summary in {@code output_dir}. */
  public static final String SUMMARY_FILE = "dev_data_summary.json";

  /** Prefix of every evaluation metric, as in Hugging Face's logs. */
  public static final String PREFIX = "eval_";

  private final Forward forward;
  private final String headline;
  private final String headlineLabel;
  private final String unit;
  private final int batchSize;
  private final String strategy;
  private final long every;

  /**
   * @param graph the training graph of a log-prob objective (evaluated with its current weights)
   * @param dev the dev pairs
   * @param collator the training run's batch layout (padded or packed)
   * @param batchSize pairs per evaluation batch
   * @param strategy {@code steps} or {@code epoch}
   * @param every with {@code steps}: evaluate when the step is a multiple of this
   */
  public Evaluator(DpoGraph graph, PairSource dev, BatchBuilder collator, int batchSize, String strategy, long every) {
    this(forward(graph, PairObjective.examples(dev, collator, Batch.Origin.DEV)), PairObjective.ACCURACY, "acc", "pairs", batchSize,
        strategy, every);
  }

  /**
   * The dev set through a graph: its size, and a forward pass of one global batch given as one array of
   * data-set positions per replica. Binds the graph to examples of its own batch layout.
   */
  interface Forward {

    int size();

    List<String> metricNames();

    int replicas();

    TrainingGraph.Micro evaluate(List<int[]> shards);
  }

  /** {@code dev} evaluated by {@code graph}. */
  static <B extends MicroBatch> Forward forward(TrainingGraph<B> graph, TrainingObjective.Examples<B> dev) {
    return new Forward() {
      @Override
      public int size() {
        return dev.size();
      }

      @Override
      public List<String> metricNames() {
        return graph.metricNames();
      }

      @Override
      public int replicas() {
        return graph.replicas();
      }

      @Override
      public TrainingGraph.Micro evaluate(List<int[]> shards) {
        List<B> batches = new ArrayList<>(shards.size());
        for (int k = 0; k < shards.size(); k++) {
          batches.add(dev.shard(graph, k, shards.get(k)));
        }
        return graph.evaluate(batches);
      }
    };
  }

  /**
   * An evaluator over any objective's dev examples.
   *
   * @param headline the metric printed next to the loss
   * @param headlineLabel its short name ({@code acc} prints as {@code eval_acc})
   * @param unit what an example is called in the console line
   */
  Evaluator(Forward forward, String headline, String headlineLabel, String unit, int batchSize, String strategy,
      long every) {
    if (!strategy.equals("steps") && !strategy.equals("epoch")) {
      throw new IllegalArgumentException("evaluation strategy must be steps or epoch, got " + strategy);
    }
    this.forward = forward;
    this.headline = headline;
    this.headlineLabel = headlineLabel;
    this.unit = unit;
    this.batchSize = batchSize;
    this.strategy = strategy;
    this.every = every;
  }

  /**
   * Loads the dev set when the config evaluates, with the training set's options, writes its summary to
   * prints its summary (the trainer writes it to {@link #SUMMARY_FILE} once the inputs are valid); null when {@code evaluation_strategy} is {@code no}.
   */
  static LoadedDataset loadDevSet(TrainConfig config, Path modelDir, PrintStream out)
      throws IOException {
    if (config.training().evaluationStrategy().equals("no")) {
      return null;
    }
    LoadedDataset dev = TrainingData.load(config, ConfigKey.DEV_DATASET_PATH, config.data().devDatasetPath(),
        modelDir, null);
    out.println("dev " + dev.summary().format());
    return dev;
  }

  /** The evaluator of a run, or null when the objective has no dev set (no evaluation). */
  static <B extends MicroBatch> Evaluator of(TrainConfig config, TrainingObjective<B> objective,
      TrainingGraph<B> graph, long totalSteps) {
    if (objective.dev() == null) {
      return null;
    }
    TrainingArgs t = config.training();
    return new Evaluator(forward(graph, objective.dev()), objective.headlineMetric(), objective.headlineLabel(), objective.unit(),
        t.perDeviceEvalBatchSize(), t.evaluationStrategy(), interval(t.evalSteps(), t.loggingSteps(), totalSteps));
  }

  /**
   * Hugging Face's evaluation interval: {@code eval_steps} unset (0) means {@code logging_steps}; a value
   * below 1 is a fraction of the total steps, rounded up.
   */
  static long interval(double evalSteps, int loggingSteps, long totalSteps) {
    if (evalSteps == 0) {
      return loggingSteps;
    }
    if (evalSteps < 1) {
      return Math.max(1, (long) Math.ceil(evalSteps * totalSteps));
    }
    return (long) evalSteps;
  }

  /** True when an evaluation is due after optimizer step {@code step}. */
  public boolean dueAfterStep(long step) {
    return strategy.equals("steps") && step % every == 0;
  }

  /** True when an evaluation is due at each epoch end. */
  public boolean dueAtEpochEnd() {
    return strategy.equals("epoch");
  }

  /** Number of dev pairs. */
  public int size() {
    return forward.size();
  }

  /**
   * Evaluates the current policy on the whole dev set.
   *
   * @return {@code eval_loss}, then {@code eval_} + each other metric of {@link TrainingGraph#metricNames()}
   */
  public Map<String, Double> evaluate() {
    List<String> names = forward.metricNames();
    double[] batchMeans = new double[names.size()];
    int[] present = new int[names.size()]; // batches that had each metric (NaN: absent, as in LogInterval)
    double weightedLoss = 0;
    long pairs = 0;
    int lossIndex = names.indexOf("loss");
    // With several replicas a batch is per_device_eval_batch_size x replicas examples, one shard per
    // replica (docs/distributed.md); its metrics come back combined as one device's on the whole batch.
    int global = batchSize * forward.replicas();
    for (int start = 0; start < forward.size(); start += global) {
      int end = Math.min(start + global, forward.size());
      int[] positions = new int[end - start];
      for (int i = start; i < end; i++) {
        positions[i - start] = i;
      }
      List<int[]> shards = new ArrayList<>();
      for (int from = 0; from < positions.length; from += batchSize) {
        shards.add(java.util.Arrays.copyOfRange(positions, from, Math.min(from + batchSize, positions.length)));
      }
      float[] m = forward.evaluate(shards).metrics();
      for (int k = 0; k < m.length; k++) {
        if (!Float.isNaN(m[k])) {
          batchMeans[k] += m[k];
          present[k]++;
        }
      }
      weightedLoss += (double) m[lossIndex] * positions.length;
      pairs += positions.length;
    }
    Map<String, Double> line = new LinkedHashMap<>();
    line.put(PREFIX + "loss", weightedLoss / pairs);
    for (int k = 0; k < names.size(); k++) {
      if (k != lossIndex && present[k] > 0) {
        line.put(PREFIX + names.get(k), batchMeans[k] / present[k]);
      }
    }
    return line;
  }

  /**
   * Evaluates and logs the result at {@code step}: one {@code metrics.jsonl} line ({@code epoch}, the
   * {@link #evaluate()} metrics, {@code eval_num_tokens}), TensorBoard scalars under {@code eval/} and
   * a console line.
   *
   * @param board TensorBoard writer, or null
   * @return the time spent, in nanoseconds (left out of the training throughput)
   */
  long log(long step, double epoch, long trainTokens, MetricsLog metrics, TensorBoardWriter board,
      PrintStream out) throws IOException {
    long started = System.nanoTime();
    Map<String, Double> line = new LinkedHashMap<>();
    line.put("epoch", epoch);
    line.putAll(evaluate());
    line.put(PREFIX + "num_tokens", (double) trainTokens);
    metrics.write(step, line);
    if (board != null) {
      board.metrics(step, line);
      board.flush();
    }
    long nanos = System.nanoTime() - started;
    Double value = line.get(PREFIX + headline);
    out.printf("eval at step %d | eval_loss %.4f | eval_%s %s | %d %s in %.1f s%n", step, line.get(PREFIX + "loss"),
        headlineLabel, value == null ? "n/a" : String.format("%.3f", value), forward.size(), unit, nanos / 1e9);
    return nanos;
  }
}
