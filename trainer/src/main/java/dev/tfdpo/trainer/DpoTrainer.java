package dev.tfdpo.trainer;

import dev.tfdpo.data.LoadedDataset;
import dev.tfdpo.data.PairSource;
import dev.tfdpo.data.TokenizedPair;
import dev.tfdpo.export.HfExport;
import dev.tfdpo.io.hf.LlamaConfig;
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
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.function.Function;

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

  /**
   * What a finished run reports.
   *
   * @param stepSeconds wall time of each optimizer step run by this process (forward, backward,
   *     update; not logging, evaluation or checkpoints), for benchmarks
   * @param startup wall seconds of each phase up to the first step ({@link StartupTimes})
   * @param startupCpu process CPU seconds of the same phases
   */
  public record Result(Path outputDir, long steps, double tokensPerSecond, List<Map<String, Double>> logged,
      List<Double> stepSeconds, Map<String, Double> startup, Map<String, Double> startupCpu) {}

  private DpoTrainer() {}

  /** Trains; progress goes to {@code out}. */
  public static Result run(TrainConfig config, PrintStream out, boolean terminal) throws IOException {
    TrainingArgs t = config.training();
    Path modelDir = ProjectPaths.resolve(config.model().modelNameOrPath());
    Path outputDir = Path.of(t.outputDir()).toAbsolutePath().normalize();
    Files.createDirectories(outputDir);
    TrainingCheckpoints checkpoints = new TrainingCheckpoints(outputDir, t);
    int cleaned = checkpoints.cleanUp();
    if (cleaned > 0) {
      out.printf("removed %d unfinished checkpoint write(s) left by an earlier crash%n", cleaned);
    }
    Optional<TrainingCheckpoints.Resume> resume =
        TrainingCheckpoints.locate(t.resumeFromCheckpoint(), outputDir, out);
    config.save(outputDir.resolve(CONFIG_FILE));

    LlamaConfig model = LlamaConfig.read(modelDir);
    LoadedDataset data = TrainingData.load(config, modelDir, outputDir.resolve(SUMMARY_FILE));
    PairSource pairs = data.pairs();
    out.println(data.summary().format());
    LoadedDataset dev = Evaluator.loadDevSet(config, modelDir, outputDir, out);

    int accumulation = t.gradientAccumulationSteps();
    boolean shuffle = config.data().trainSamplingStrategy().equals("random");
    EpochSampler sampler = new EpochSampler(pairs.size(), t.perDeviceTrainBatchSize(), shuffle, t.seed());
    long stepsPerEpoch = (sampler.batchesPerEpoch() + accumulation - 1) / accumulation;
    long total = t.maxSteps() > 0 ? t.maxSteps() : (long) Math.ceil(t.numTrainEpochs() * stepsPerEpoch);
    LrSchedule schedule = LrSchedule.fromName(t.lrSchedulerType());
    long warmup = LrSchedule.warmupSteps(t.warmupSteps(), total);
    AdamW.Hyper adam = new AdamW.Hyper((float) t.adamBeta1(), (float) t.adamBeta2(), (float) t.adamEpsilon());

    BatchBuilder collator = BatchBuilder.forConfig(config, model);
    Function<int[], Batch> collate = positions -> collator.build(select(pairs, positions));
    // Before the training graph exists: a precompute pass holds the reference weights only while it runs.
    ReferenceModel reference = ReferenceModel.resolve(config.reference(), modelDir, model);
    out.println(reference.describe());
    reference.prepare(pairs, collate, config.lossSpec().ldAlpha(), t.numThreads(), out);

    DpoGraph.Settings settings = new DpoGraph.Settings(
        model,
        config.lossSpec(),
        adam, t.maxGradNorm(), t.numThreads(), reference.graph(), t.useXla());
    List<Map<String, Double>> logged = new ArrayList<>();
    List<Double> stepSeconds = new ArrayList<>();
    long runStart = System.nanoTime();
    long tokensThisRun = 0;
    Path metricsFile = outputDir.resolve(METRICS_FILE);
    StartupTimes startup = StartupTimes.start();
    try (DpoGraph graph = DpoGraph.build(settings);
        SafeTensorsReader weights = SafeTensorsReader.open(modelDir)) {
      startup.mark("graph_build_s");
      graph.policyLoader().load(graph.session(), weights);
      reference.load(graph, weights);
      startup.mark("weights_s");
      out.printf("training graph: %.1f MB of variables (policy, gradient accumulators, Adam m and v%s)%n",
          graph.variableBytes() / 1e6, graph.referenceMode() == DpoGraph.ReferenceMode.LIVE ? ", reference" : "");
      LogInterval interval = new LogInterval(graph.metricNames());
      Evaluator evaluator = Evaluator.of(config, dev, graph, collator, total);

      long step = 0;
      int epoch = 0;
      int next = 0;
      long totalTokens = 0;
      if (resume.isPresent()) {
        TrainerState saved = resume.get().state();
        checkSameOrder(saved, shuffle, t.seed());
        graph.restoreState(resume.get().directory().resolve(TrainingCheckpoints.TF_STATE));
        interval.restore(saved.interval());
        step = saved.globalStep();
        epoch = saved.epoch();
        next = saved.nextMicroBatch();
        totalTokens = saved.numTokens();
        Files.copy(resume.get().directory().resolve(METRICS_FILE), metricsFile, StandardCopyOption.REPLACE_EXISTING);
      }
      long firstStep = step;
      TrainerState.Run position = new TrainerState.Run(shuffle, t.seed(), total);
      out.printf("training: %d steps (%d per epoch), %d pairs per micro-batch, %d micro-batches per step%s%n",
          total, stepsPerEpoch, t.perDeviceTrainBatchSize(), accumulation,
          step > 0 ? ", continuing after step " + step : "");

      try (MetricsLog metrics = new MetricsLog(metricsFile, resume.isPresent());
          TensorBoardWriter board =
              t.reportTo().equals("tensorboard") ? new TensorBoardWriter(outputDir.resolve("runs")) : null;
          Console console = new Console(out, total, terminal)) {
        while (step < total) {
          List<int[]> microBatches = sampler.epoch(epoch);
          for (int start = next; start < microBatches.size() && step < total; start += accumulation) {
            List<int[]> group = microBatches.subList(start, Math.min(start + accumulation, microBatches.size()));
            step++;
            long stepStart = System.nanoTime();
            double lr = schedule.rate(t.learningRate(), step, total, warmup);
            float scale = 1f / group.size();
            double stepLoss = 0;
            // What a checkpoint of the previous step holds, in case this step turns out non-finite.
            TrainerState before = position.at(step - 1, epoch, start, totalTokens, interval.sums());
            NonFiniteStepException.Guard guard = new NonFiniteStepException.Guard(step, group.size());
            for (int[] positions : group) {
              Batch batch = collate.apply(positions);
              DpoGraph.MicroResult r = graph.micro(batch, scale, reference.fed(batch));
              guard.loss(r.metric("loss"), batch);
              interval.addMicro(r.metrics(), batch.realTokens());
              stepLoss += r.metric("loss") / group.size();
              totalTokens += batch.realTokens();
              tokensThisRun += batch.realTokens();
            }
            DpoGraph.GradientNorm norm = graph.gradientNorm();
            try {
              guard.check(norm); // a non-finite step stops the run before anything changes
            } catch (NonFiniteStepException e) {
              throw keepLastGood(e, before, checkpoints, graph, config, modelDir, model, metricsFile, out);
            }
            graph.apply(AdamW.stepScalars(lr, t.weightDecay(), adam, step), norm.total());
            reference.afterStep(graph, step);
            stepSeconds.add((System.nanoTime() - stepStart) / 1e9);
            startup.firstStep(stepSeconds.get(0), out);
            interval.addStep(stepLoss, norm.total(), lr);
            boolean epochEnd = start + accumulation >= microBatches.size();
            double epochProgress = epoch + (double) (start / accumulation + 1) / stepsPerEpoch;
            if (step % t.loggingSteps() == 0 || step == total) {
              double tokensPerSecond = interval.tokensPerSecond();
              Map<String, Double> line = interval.flush(epochProgress, totalTokens);
              metrics.write(step, line);
              if (board != null) {
                board.metrics(step, line);
                board.metrics(step, Map.of("tokens_per_s", tokensPerSecond));
                board.flush();
              }
              logged.add(line);
              double elapsed = (System.nanoTime() - runStart) / 1e9;
              Duration eta = Duration.ofMillis((long) (1000 * elapsed / (step - firstStep) * (total - step)));
              console.logged(step, line.get("loss"), line.get("rewards/accuracies"), tokensPerSecond, eta);
            }
            // Before the checkpoint, so that the checkpoint's metrics.jsonl has the eval line too. An
            // epoch cut short by max_steps still ends with its evaluation, as in Hugging Face's Trainer.
            boolean evaluate = evaluator != null
                && (evaluator.dueAfterStep(step) || ((epochEnd || step == total) && evaluator.dueAtEpochEnd()));
            if (evaluate) {
              interval.exclude(evaluator.log(step, epochProgress, totalTokens, metrics, board, out));
            }
            if (checkpoints.due(step, epochEnd, step == total)) {
              TrainerState state = position.at(step, epochEnd ? epoch + 1 : epoch, epochEnd ? 0 : start + accumulation,
                  totalTokens, interval.sums());
              Path saved = checkpoints.save(state, graph, config, modelDir, model, metricsFile);
              console.message("saved " + saved.getFileName());
            }
          }
          epoch++;
          next = 0;
        }
      }
      List<Path> written = HfExport.write(outputDir, model, graph.policyWeights(), modelDir, Optional.empty(),
          HfExport.Options.DEFAULT);
      Plots.writeLossChart(metricsFile, outputDir.resolve(LOSS_CHART));
      double seconds = (System.nanoTime() - runStart) / 1e9;
      double tokensPerSecond = tokensThisRun / seconds;
      out.printf("done: %d steps in %.1f s, %,.0f real tokens/s%n", step - firstStep, seconds, tokensPerSecond);
      out.printf("outputs in %s: %s, %s, %s, %s, %s, config.json and tokenizer files%s%n",
          outputDir, METRICS_FILE, LOSS_CHART, CONFIG_FILE, SUMMARY_FILE, written.get(written.size() - 1).getFileName(),
          t.reportTo().equals("tensorboard") ? ", TensorBoard events in runs/" : "");
      return new Result(outputDir, step, tokensPerSecond, logged, stepSeconds, startup.seconds(),
          startup.cpuSeconds());
    }
  }

  /**
   * After a non-finite step: the graph still holds the previous step's weights and moments (the update
   * did not run), so they are saved as that step's checkpoint unless it exists already or saving is off.
   */
  private static NonFiniteStepException keepLastGood(NonFiniteStepException e, TrainerState lastGood,
      TrainingCheckpoints checkpoints, DpoGraph graph, TrainConfig config, Path modelDir, LlamaConfig model,
      Path metricsFile, PrintStream out) throws IOException {
    if (lastGood.globalStep() == 0 || !checkpoints.enabled()) {
      return e;
    }
    Path kept = checkpoints.saveIfMissing(lastGood, graph, config, modelDir, model, metricsFile);
    out.println("last good state kept in " + kept);
    return new NonFiniteStepException(e.step(), e.quantity(), kept);
  }

  /** A resumed run must visit the data in the order the checkpoint's run did. */
  private static void checkSameOrder(TrainerState saved, boolean shuffle, long seed) {
    if (saved.shuffle() != shuffle || saved.seed() != seed) {
      throw new IllegalArgumentException(String.format(
          "the checkpoint was trained with train_sampling_strategy %s and seed %d, this config has %s and %d;"
              + " resume with the checkpoint's values (its resolved_config.json has them)",
          saved.shuffle() ? "random" : "sequential", saved.seed(), shuffle ? "random" : "sequential", seed));
    }
  }

  private static List<TokenizedPair> select(PairSource pairs, int[] positions) {
    List<TokenizedPair> out = new ArrayList<>(positions.length);
    for (int p : positions) {
      out.add(pairs.get(p));
    }
    return out;
  }
}
