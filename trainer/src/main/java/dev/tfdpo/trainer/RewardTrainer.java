package dev.tfdpo.trainer;

import dev.tfdpo.data.RewardPairs;
import dev.tfdpo.graphs.OneDnn;
import dev.tfdpo.graphs.training.DpoGraph;
import dev.tfdpo.graphs.training.RewardBatch;
import dev.tfdpo.graphs.training.RewardGraph;
import dev.tfdpo.io.OutputDirLock;
import dev.tfdpo.io.hf.HfExport;
import dev.tfdpo.io.hf.LlamaConfig;
import dev.tfdpo.io.hf.RewardModelExport;
import dev.tfdpo.io.safetensors.SafeTensorsReader;
import dev.tfdpo.ops.AdamW;
import dev.tfdpo.ops.LrSchedule;
import dev.tfdpo.ops.RewardLoss;
import dev.tfdpo.report.Plots;
import dev.tfdpo.report.TensorBoardWriter;
import dev.tfdpo.tokenizer.Tokenizer;
import dev.tfdpo.tokenizer.Tokenizers;
import dev.tfdpo.trainer.config.ConfigException;
import dev.tfdpo.trainer.config.TrainConfig;
import dev.tfdpo.trainer.config.TrainingArgs;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * Reward-model training ({@code rlhf_type rm}; TRL's {@code RewardTrainer}, ms-swift's {@code rm}): a
 * Llama backbone with a scalar head ({@link RewardGraph}) trained on preference pairs with the
 * Bradley-Terry loss ({@link dev.tfdpo.ops.RewardLoss}), started from a causal-LM checkpoint (new head,
 * seeded N(0, initializer_range^2)) or a sequence-classification one (its head). The run's shape is the
 * DPO loop's: the same sampler, schedule, AdamW, clipping, logging interval (TRL's averaging), dev-set
 * evaluation and output directory rules; it writes {@code metrics.jsonl} with TRL's names ({@code loss,
 * grad_norm, learning_rate, accuracy, min_reward, mean_reward, max_reward, margin, num_tokens}) and the
 * trained model as a Hugging Face {@code LlamaForSequenceClassification} directory.
 *
 * <p>Checkpoints ({@code save_strategy}, {@code save_steps}) hold the weights and Adam's moments, the model
 * as a sequence-classification directory and the trainer state; {@code resume_from_checkpoint} continues
 * one and ends with the same {@code metrics.jsonl} as an uninterrupted run. Not supported here, and refused
 * with a message: {@code use_xla}, {@code devices}, {@code bf16}.
 */
public final class RewardTrainer {

  /** The metric the console prints next to the loss. */
  static final String ACCURACY = "accuracy";

  private RewardTrainer() {}

  /** Trains; progress goes to {@code out}. */
  public static DpoTrainer.Result run(TrainConfig config, PrintStream out, boolean terminal) throws IOException {
    TrainingArgs t = config.training();
    refuseUnsupported(t);
    Path outputDir = Path.of(t.outputDir()).toAbsolutePath().normalize();
    if (Files.exists(outputDir) && !Files.isDirectory(outputDir)) {
      throw new ConfigException("output_dir " + outputDir + " exists and is not a directory");
    }
    Path modelDir = ProjectPaths.resolve(config.model().modelNameOrPath());
    try (OutputDirLock lock = OutputDirLock.acquire(outputDir, "train", out::println)) {
      out.println(OneDnn.detect().describe());
      Optional<TrainingCheckpoints.Resume> resume = TrainingCheckpoints.locate(t.resumeFromCheckpoint(), outputDir, out);
      RunDirectory.checkStart(outputDir, t.overwriteOutputDir(), resume);
      RunDirectory.checkInputsSurvive(outputDir, t.overwriteOutputDir(), inputs(config, modelDir));
      if (resume.isPresent()) {
        ResumeGuard.check(resume.get().directory(), outputDir, config);
      }
      LlamaConfig model = readModel(modelDir);
      boolean fromClassifier = RewardModelExport.isSequenceClassifier(modelDir);
      Data data = Data.load(config, modelDir, model, out);
      String runId = RunDirectory.begin(outputDir, config, t.overwriteOutputDir(), resume, out);
      TrainingCheckpoints checkpoints = new TrainingCheckpoints(outputDir, t, runId);
      int cleaned = checkpoints.cleanUp();
      if (cleaned > 0) {
        out.printf("removed %d unfinished checkpoint write(s) left by an earlier crash%n", cleaned);
      }
      long started = System.nanoTime();
      AdamW.Hyper adam = new AdamW.Hyper((float) t.adamBeta1(), (float) t.adamBeta2(), (float) t.adamEpsilon());
      try (RewardGraph graph = RewardGraph.build(new RewardGraph.Settings(
              model, config.dpo().centerRewardsCoefficient(), adam, t.maxGradNorm(), t.numThreads()));
          SafeTensorsReader weights = SafeTensorsReader.open(modelDir)) {
        boolean headFromFile = graph.load(weights, RewardModelExport.initializerRange(modelDir), t.seed());
        out.printf("reward model: %s backbone, %s; %.1f MB of variables (weights, gradient accumulators, Adam m and v)%n",
            fromClassifier ? "sequence-classification" : "causal-LM",
            headFromFile ? "score.weight from the checkpoint"
                : "new score.weight drawn from N(0, initializer_range^2) with seed " + t.seed(),
            graph.variableBytes() / 1e6);
        Loop loop = new Loop(config, graph, data, adam, out, terminal, outputDir, checkpoints, modelDir, model, runId);
        if (resume.isPresent()) {
          loop.restore(resume.get());
        }
        List<Map<String, Double>> logged = loop.train();
        RewardModelExport.write(outputDir, modelDir, model, graph.weights(), data.padId,
            HfExport.Options.DEFAULT.withMetadata(Map.of(RunDirectory.RUN_ID, runId)));
        Plots.writeLossChart(outputDir.resolve(DpoTrainer.METRICS_FILE), outputDir.resolve(DpoTrainer.LOSS_CHART));
        double seconds = (System.nanoTime() - started) / 1e9;
        out.printf("done: %d steps in %.1f s; reward model (LlamaForSequenceClassification) and %s in %s%n",
            loop.step - loop.firstStep, seconds, DpoTrainer.METRICS_FILE, outputDir);
        return new DpoTrainer.Result(outputDir, loop.step, loop.tokens / seconds, logged, loop.stepSeconds,
            Map.of(), Map.of(), loop.stepCpuSeconds);
      }
    }
  }

  /** The loop's options this trainer does not implement: refused before anything is read or written. */
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

  /** The optimizer steps with logging and evaluation, as {@link DpoTrainer}'s loop runs them. */
  private static final class Loop {
    final TrainConfig config;
    final TrainingArgs t;
    final RewardGraph graph;
    final Data data;
    final AdamW.Hyper adam;
    final PrintStream out;
    final boolean terminal;
    final Path outputDir;
    final TrainingCheckpoints checkpoints;
    final Path modelDir;
    final LlamaConfig model;
    final String runId;
    final List<Double> stepSeconds = new ArrayList<>();
    final List<Double> stepCpuSeconds = new ArrayList<>();
    final boolean shuffle;
    final LogInterval interval = new LogInterval(RewardLoss.METRICS);
    long step;
    long firstStep;
    long tokens;
    int epoch;
    int next;
    boolean resumed;

    Loop(TrainConfig config, RewardGraph graph, Data data, AdamW.Hyper adam, PrintStream out, boolean terminal,
        Path outputDir, TrainingCheckpoints checkpoints, Path modelDir, LlamaConfig model, String runId) {
      this.checkpoints = checkpoints;
      this.runId = runId;
      this.modelDir = modelDir;
      this.model = model;
      this.shuffle = config.data().trainSamplingStrategy().equals("random");
      this.config = config;
      this.t = config.training();
      this.graph = graph;
      this.data = data;
      this.adam = adam;
      this.out = out;
      this.terminal = terminal;
      this.outputDir = outputDir;
    }

    /** Continues a checkpoint: weights and moments, the logging interval's sums, the data position. */
    void restore(TrainingCheckpoints.Resume from) throws IOException {
      TrainerState saved = from.state();
      if (saved.shuffle() != shuffle || saved.seed() != t.seed()) {
        throw new IllegalArgumentException(String.format("the checkpoint was trained with train_sampling_strategy "
            + "%s and seed %d, this config has %s and %d; resume with the checkpoint's values (its "
            + "resolved_config.json has them)", saved.shuffle() ? "random" : "sequential", saved.seed(),
            shuffle ? "random" : "sequential", t.seed()));
      }
      graph.restoreState(from.directory().resolve(TrainingCheckpoints.TF_STATE));
      interval.restore(saved.interval());
      step = saved.globalStep();
      firstStep = step;
      epoch = saved.epoch();
      next = saved.nextMicroBatch();
      tokens = saved.numTokens();
      Files.copy(from.directory().resolve(DpoTrainer.METRICS_FILE), outputDir.resolve(DpoTrainer.METRICS_FILE),
          java.nio.file.StandardCopyOption.REPLACE_EXISTING);
      resumed = true;
    }

    List<Map<String, Double>> train() throws IOException {
      int accumulation = t.gradientAccumulationSteps();
      EpochSampler sampler = new EpochSampler(data.train().pairs().size(), t.perDeviceTrainBatchSize(), shuffle, t.seed());
      long stepsPerEpoch = (sampler.batchesPerEpoch() + accumulation - 1) / accumulation;
      long total = t.maxSteps() > 0 ? t.maxSteps() : (long) Math.ceil(t.numTrainEpochs() * stepsPerEpoch);
      LrSchedule schedule = LrSchedule.fromName(t.lrSchedulerType());
      long warmup = LrSchedule.warmupSteps(t.warmupSteps(), total);
      long evalEvery = Evaluator.interval(t.evalSteps(), t.loggingSteps(), total);
      out.printf("training: %d steps (%d per epoch), %d pairs per micro-batch, %s%s%n", total, stepsPerEpoch,
          t.perDeviceTrainBatchSize(), DpoTrainer.describeAccumulation(accumulation, sampler.batchesPerEpoch()),
          step > 0 ? ", continuing after step " + step : "");
      TrainerState.Run position = new TrainerState.Run(shuffle, t.seed(), total);
      List<Map<String, Double>> logged = new ArrayList<>();
      RunClock clock = new RunClock();
      interval.startClock();
      try (MetricsLog metrics = new MetricsLog(outputDir.resolve(DpoTrainer.METRICS_FILE), resumed, runId);
          TensorBoardWriter board =
              t.reportTo().equals("tensorboard") ? new TensorBoardWriter(outputDir.resolve("runs")) : null;
          Console console = new Console(out, total, terminal)) {
        for (; step < total; epoch++, next = 0) {
          List<int[]> micro = sampler.epoch(epoch);
          for (int start = next; start < micro.size() && step < total; start += accumulation) {
            List<int[]> group = micro.subList(start, Math.min(start + accumulation, micro.size()));
            boolean epochEnd = start + accumulation >= micro.size();
            // Hugging Face's epoch: micro-batches done over micro-batches per epoch (0.4 after 2 of 5).
            double epochProgress = epoch + (double) (start + group.size()) / micro.size();
            optimizerStep(group, schedule.rate(t.learningRate(), step + 1, total, warmup));
            clock.stepDone(tokens);
            if (step % t.loggingSteps() == 0 || step == total) {
              double tokensPerSecond = interval.tokensPerSecond();
              Map<String, Double> line = interval.flush(epochProgress, tokens);
              metrics.write(step, line);
              if (board != null) {
                board.metrics(step, line);
                board.flush();
              }
              logged.add(line);
              console.logged(step, line.get("loss"), "acc", line.get(ACCURACY), tokensPerSecond,
                  clock.eta(total - step));
            }
            boolean evaluate = data.dev() != null && ((t.evaluationStrategy().equals("steps") && step % evalEvery == 0)
                || (t.evaluationStrategy().equals("epoch") && (epochEnd || step == total)));
            if (evaluate) {
              long evalStart = System.nanoTime();
              Map<String, Double> line = new LinkedHashMap<>();
              line.put("epoch", epochProgress);
              line.putAll(evaluate(graph, data, data.dev(), t.perDeviceEvalBatchSize()));
              metrics.write(step, line);
              if (board != null) {
                board.metrics(step, line);
                board.flush();
              }
              console.message(String.format("eval after step %d: loss %.4f, accuracy %.3f", step,
                  line.get("eval_loss"), line.get("eval_accuracy")));
              long spent = System.nanoTime() - evalStart;
              interval.exclude(spent);
              clock.evaluated(spent);
            }
            if (checkpoints.due(step, epochEnd, step == total)) {
              TrainerState state = position.at(step, epochEnd ? epoch + 1 : epoch, epochEnd ? 0 : start + accumulation,
                  tokens, interval.sums());
              Path saved = checkpoints.saveReward(state, graph, config, modelDir, model, data.padId(),
                  outputDir.resolve(DpoTrainer.METRICS_FILE));
              console.message("saved " + saved.getFileName());
            }
          }
        }
        clock.stop();
      }
      return logged;
    }

    private void optimizerStep(List<int[]> group, double lr) {
      step++;
      long stepStart = System.nanoTime();
      long stepCpuStart = StartupTimes.processCpuNanos();
      float scale = 1f / group.size();
      double stepLoss = 0;
      for (int[] positions : group) {
        RewardBatch batch = data.batch(data.train(), positions);
        RewardGraph.MicroResult r = graph.micro(batch, scale);
        float loss = r.metric("loss");
        if (!Float.isFinite(loss)) {
          throw new NonFiniteStepException(step, "loss " + loss + " in the micro-batch of pairs "
              + java.util.Arrays.toString(batch.pairIndices()));
        }
        interval.addMicro(r.metrics(), batch.realTokens());
        stepLoss += loss / group.size();
        tokens += batch.realTokens();
      }
      DpoGraph.GradientNorm norm = graph.gradientNorm();
      String bad = norm.firstNonFinite();
      if (bad != null) {
        throw new NonFiniteStepException(step, "gradient (first: " + bad + "; global norm " + norm.total() + ")");
      }
      graph.apply(AdamW.stepScalars(lr, t.weightDecay(), adam, step), norm.total());
      interval.addStep(stepLoss, norm.total(), lr);
      stepSeconds.add((System.nanoTime() - stepStart) / 1e9);
      stepCpuSeconds.add((StartupTimes.processCpuNanos() - stepCpuStart) / 1e9);
    }
  }

  /**
   * The current model on a whole dev set, in batches of {@code batchSize} pairs, as Hugging Face's
   * evaluation loop logs it: {@code eval_loss} the pair-weighted mean of the batch losses, the other
   * metrics ({@code eval_accuracy}, rewards, margin) the mean over batches, as TRL averages its lists.
   */
  static Map<String, Double> evaluate(RewardGraph graph, Data data, RewardPairs.Loaded dev, int batchSize) {
    List<String> names = RewardLoss.METRICS;
    double[] sums = new double[names.size()];
    double weightedLoss = 0;
    int batches = 0;
    int n = dev.pairs().size();
    for (int start = 0; start < n; start += batchSize) {
      int end = Math.min(start + batchSize, n);
      int[] positions = new int[end - start];
      for (int i = start; i < end; i++) {
        positions[i - start] = i;
      }
      float[] m = graph.evaluate(data.batch(dev, positions)).metrics();
      for (int k = 0; k < m.length; k++) {
        sums[k] += m[k];
      }
      weightedLoss += (double) m[0] * positions.length;
      batches++;
    }
    Map<String, Double> line = new LinkedHashMap<>();
    line.put("eval_loss", weightedLoss / n);
    for (int k = 1; k < names.size(); k++) {
      line.put("eval_" + names.get(k), sums[k] / batches);
    }
    return line;
  }

  /** The paths the run reads, which its own writes must not remove. */
  private static List<Path> inputs(TrainConfig config, Path modelDir) {
    List<Path> in = new ArrayList<>(List.of(modelDir, ProjectPaths.resolve(config.data().trainDatasetPath())));
    for (String p : List.of(config.model().tokenizerNameOrPath(), config.data().devDatasetPath())) {
      if (!p.isEmpty()) {
        in.add(ProjectPaths.resolve(p));
      }
    }
    return in;
  }

  private static LlamaConfig readModel(Path modelDir) {
    try {
      return LlamaConfig.read(modelDir);
    } catch (IOException e) {
      throw new ConfigException("model_name_or_path " + modelDir + ": " + e.getMessage());
    }
  }
}
