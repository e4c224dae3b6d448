package dev.tfdpo.trainer;

import dev.tfdpo.data.LoadedDataset;
import dev.tfdpo.data.PairSource;
import dev.tfdpo.data.TokenizedPair;
import dev.tfdpo.io.hf.HfModelWriter;
import dev.tfdpo.io.hf.LlamaConfig;
import dev.tfdpo.io.safetensors.DType;
import dev.tfdpo.io.safetensors.SafeTensorsReader;
import dev.tfdpo.ops.AdamW;
import dev.tfdpo.report.Plots;
import dev.tfdpo.report.TensorBoardWriter;
import dev.tfdpo.trainer.config.TrainConfig;
import dev.tfdpo.trainer.config.TrainingArgs;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Runs DPO training from a resolved config: loads model and data, builds the graph once, runs the
 * optimizer steps, logs metrics and writes the trained policy as a Hugging Face model directory.
 */
public final class DpoTrainer {

  /** File names in {@code output_dir}. */
  public static final String METRICS_FILE = "metrics.jsonl";

  public static final String CONFIG_FILE = "resolved_config.json";

  public static final String LOSS_CHART = "loss.png";

  public static final String SUMMARY_FILE = "data_summary.json";

  /** What a finished run reports. */
  public record Result(Path outputDir, long steps, double tokensPerSecond, List<Map<String, Double>> logged) {}

  private DpoTrainer() {}

  /** Trains; progress goes to {@code out}. */
  public static Result run(TrainConfig config, PrintStream out, boolean terminal) throws IOException {
    TrainingArgs t = config.training();
    Path modelDir = ProjectPaths.resolve(config.model().modelNameOrPath());
    Path outputDir = Path.of(t.outputDir()).toAbsolutePath().normalize();
    Files.createDirectories(outputDir);
    config.save(outputDir.resolve(CONFIG_FILE));

    LlamaConfig model = LlamaConfig.read(modelDir);
    LoadedDataset data = TrainingData.load(config, modelDir, outputDir.resolve(SUMMARY_FILE));
    PairSource pairs = data.pairs();
    out.print(data.summary().format());

    int accumulation = t.gradientAccumulationSteps();
    EpochSampler sampler = new EpochSampler(pairs.size(), t.perDeviceTrainBatchSize(),
        config.data().trainSamplingStrategy().equals("random"), t.seed());
    long stepsPerEpoch = (sampler.batchesPerEpoch() + accumulation - 1) / accumulation;
    long total = t.maxSteps() > 0 ? t.maxSteps() : (long) Math.ceil(t.numTrainEpochs() * stepsPerEpoch);
    LrSchedule schedule = LrSchedule.fromName(t.lrSchedulerType());
    long warmup = LrSchedule.warmupSteps(t.warmupSteps(), total);
    AdamW.Hyper adam = new AdamW.Hyper((float) t.adamBeta1(), (float) t.adamBeta2(), (float) t.adamEpsilon());

    DpoGraph.Settings settings = new DpoGraph.Settings(
        model,
        config.lossSpec(),
        adam, t.maxGradNorm(), t.numThreads(), t.useXla());
    List<Map<String, Double>> logged = new ArrayList<>();
    long runStart = System.nanoTime();
    long totalTokens = 0;
    try (DpoGraph graph = DpoGraph.build(settings);
        MetricsLog metrics = new MetricsLog(outputDir.resolve(METRICS_FILE));
        TensorBoardWriter board =
            t.reportTo().equals("tensorboard") ? new TensorBoardWriter(outputDir.resolve("runs")) : null;
        SafeTensorsReader weights = SafeTensorsReader.open(modelDir)) {
      graph.policyLoader().load(graph.session(), weights);
      graph.referenceLoader().load(graph.session(), weights);
      BatchBuilder batches = BatchBuilder.forConfig(config, model);
      out.printf("training: %d steps (%d per epoch), %d pairs per micro-batch, %d micro-batches per step%n",
          total, stepsPerEpoch, t.perDeviceTrainBatchSize(), accumulation);

      Interval interval = new Interval(graph.metricNames());
      long step = 0;
      try (Console console = new Console(out, total, terminal)) {
        for (int epoch = 0; step < total; epoch++) {
          List<int[]> microBatches = sampler.epoch(epoch);
          for (int start = 0; start < microBatches.size() && step < total; start += accumulation) {
            List<int[]> group = microBatches.subList(start, Math.min(start + accumulation, microBatches.size()));
            step++;
            double lr = schedule.rate(t.learningRate(), step, total, warmup);
            float scale = 1f / group.size();
            double stepLoss = 0;
            for (int[] positions : group) {
              Batch batch = batches.build(select(pairs, positions));
              DpoGraph.MicroResult r = graph.micro(batch, scale);
              interval.addMicro(r.metrics(), batch.realTokens());
              stepLoss += r.metric("loss") / group.size();
              totalTokens += batch.realTokens();
            }
            float gradNorm = graph.apply(AdamW.stepScalars(lr, t.weightDecay(), adam, step));
            interval.addStep(stepLoss, gradNorm, lr);
            if (step % t.loggingSteps() == 0 || step == total) {
              double epochProgress = epoch + (double) (start / accumulation + 1) / stepsPerEpoch;
              Map<String, Double> line = interval.flush(epochProgress, totalTokens);
              metrics.write(step, line);
              if (board != null) {
                board.metrics(step, line);
                board.flush();
              }
              logged.add(line);
              double elapsed = (System.nanoTime() - runStart) / 1e9;
              Duration eta = Duration.ofMillis((long) (1000 * elapsed / step * (total - step)));
              console.logged(step, line.get("loss"), line.get("rewards/accuracies"), line.get("tokens_per_s"), eta);
            }
          }
        }
      }
      List<Path> written = HfModelWriter.write(outputDir, modelDir, model, graph.policyWeights(), DType.F32,
          HfModelWriter.DEFAULT_MAX_SHARD_BYTES);
      Plots.writeLossChart(outputDir.resolve(METRICS_FILE), outputDir.resolve(LOSS_CHART));
      if (board != null) {
        board.close();
      }
      double seconds = (System.nanoTime() - runStart) / 1e9;
      double tokensPerSecond = totalTokens / seconds;
      out.printf("done: %d steps in %.1f s, %,.0f real tokens/s%n", step, seconds, tokensPerSecond);
      out.printf("outputs in %s: %s, %s, %s, %s, %s, config.json and tokenizer files%s%n",
          outputDir, METRICS_FILE, LOSS_CHART, CONFIG_FILE, SUMMARY_FILE, written.get(written.size() - 1).getFileName(),
          board != null ? ", TensorBoard events in runs/" : "");
      return new Result(outputDir, step, tokensPerSecond, logged);
    }
  }

  private static List<TokenizedPair> select(PairSource pairs, int[] positions) {
    List<TokenizedPair> out = new ArrayList<>(positions.length);
    for (int p : positions) {
      out.add(pairs.get(p));
    }
    return out;
  }

  /**
   * Sums since the last logged step. Like TRL: loss is the mean of the step losses, the other
   * micro-batch metrics the unweighted mean over micro-batches, grad_norm and learning_rate those of
   * the last step.
   */
  private static final class Interval {
    private final List<String> names;
    private final double[] microSums;
    private int micros;
    private double lossSum;
    private int steps;
    private double gradNorm;
    private double lr;
    private long tokens;
    private long started = System.nanoTime();

    Interval(List<String> names) {
      this.names = names;
      this.microSums = new double[names.size()];
    }

    void addMicro(float[] metrics, long realTokens) {
      for (int i = 0; i < metrics.length; i++) {
        microSums[i] += metrics[i];
      }
      micros++;
      tokens += realTokens;
    }

    void addStep(double loss, float norm, double rate) {
      lossSum += loss;
      steps++;
      gradNorm = norm;
      lr = rate;
    }

    Map<String, Double> flush(double epoch, long cumulativeTokens) {
      Map<String, Double> line = new LinkedHashMap<>();
      line.put("epoch", epoch);
      line.put("loss", lossSum / steps);
      line.put("grad_norm", gradNorm);
      line.put("learning_rate", lr);
      for (int i = 1; i < microSums.length; i++) {
        line.put(names.get(i), microSums[i] / micros);
      }
      line.put("num_tokens", (double) cumulativeTokens);
      double seconds = (System.nanoTime() - started) / 1e9;
      line.put("tokens_per_s", tokens / seconds);
      java.util.Arrays.fill(microSums, 0);
      micros = 0;
      lossSum = 0;
      steps = 0;
      tokens = 0;
      started = System.nanoTime();
      return line;
    }
  }
}
