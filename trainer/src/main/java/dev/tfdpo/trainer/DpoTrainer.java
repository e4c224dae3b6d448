package dev.tfdpo.trainer;

import dev.tfdpo.graphs.GrpcCluster;
import dev.tfdpo.graphs.Sessions;
import dev.tfdpo.graphs.training.Batch;
import dev.tfdpo.graphs.training.BatchQueue;
import dev.tfdpo.graphs.training.MicroBatch;
import dev.tfdpo.graphs.training.DpoGraph;
import dev.tfdpo.graphs.training.Replication;
import dev.tfdpo.graphs.training.StepTrace;
import dev.tfdpo.graphs.training.TrainingGraph;
import dev.tfdpo.graphs.Recompute;
import dev.tfdpo.graphs.training.Xla;
import dev.tfdpo.graphs.Bf16Probe;
import dev.tfdpo.graphs.OneDnn;
import dev.tfdpo.io.OutputDirLock;
import dev.tfdpo.io.hf.LlamaConfig;
import dev.tfdpo.io.safetensors.FiniteValues;
import dev.tfdpo.io.safetensors.SafeTensorsReader;
import dev.tfdpo.ops.AdamW;
import dev.tfdpo.ops.LrSchedule;
import dev.tfdpo.report.Plots;
import dev.tfdpo.report.TensorBoardWriter;
import dev.tfdpo.trainer.config.ConfigException;
import dev.tfdpo.trainer.config.TrainConfig;
import dev.tfdpo.trainer.config.Trainer;
import dev.tfdpo.trainer.config.TrainingArgs;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * Runs training from a resolved config: loads model and data, builds the graph once, runs the
 * optimizer steps, logs metrics and writes the trained model as a Hugging Face model directory.
 *
 * <p>The loop here is the only one and knows no objective: what is trained (DPO and its relatives on
 * pairs, KTO on rows, a reward model) is a {@link TrainingObjective} picked from {@code rlhf_type}, which
 * supplies the examples and their batch layout, builds the {@link TrainingGraph} the loop drives, loads
 * its starting weights and writes its model.
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
   * @param stepCpuSeconds process CPU seconds (all threads) of each step of {@code stepSeconds}
   * @param variableBytes bytes held by the training graph's variables
   */
  public record Result(Path outputDir, long steps, double tokensPerSecond, List<Map<String, Double>> logged,
      List<Double> stepSeconds, Map<String, Double> startup, Map<String, Double> startupCpu,
      List<Double> stepCpuSeconds, long variableBytes) {}

  private DpoTrainer() {}

  /**
   * Trains; progress goes to {@code out}. The output directory is locked for the whole run, so a second
   * tool writing it is refused at once ({@link OutputDirLock}).
   */
  public static Result run(TrainConfig config, PrintStream out, boolean terminal) throws IOException {
    return run(config, out, terminal, null);
  }

  /**
   * {@link #run(TrainConfig, PrintStream, boolean)} as the chief of a gRPC cluster: one replica on each
   * task ({@link ClusterRun}); {@code cluster} null trains in this process.
   */
  static Result run(TrainConfig config, PrintStream out, boolean terminal, GrpcCluster cluster) throws IOException {
    if (cluster != null && Trainer.byName(config.dpo().rlhfType()) == Trainer.RM) {
      throw new ConfigException("rlhf_type rm with TF_CONFIG is not supported: the reward trainer runs in one "
          + "process; unset TF_CONFIG (or drop --nproc_per_node)");
    }
    Path outputDir = Path.of(config.training().outputDir()).toAbsolutePath().normalize();
    if (Files.exists(outputDir) && !Files.isDirectory(outputDir)) {
      throw new ConfigException("output_dir " + outputDir + " exists and is not a directory");
    }
    try (OutputDirLock lock = OutputDirLock.acquire(outputDir, "train", out::println)) {
      Path modelDir = ProjectPaths.resolve(config.model().modelNameOrPath());
      LlamaConfig model = readModel(modelDir);
      // First: an objective refuses options it does not implement before anything else happens.
      return train(TrainingObjectives.forConfig(config, modelDir, model), config, out, terminal, outputDir,
          cluster);
    }
  }

  /**
   * A worker task's data side of a cluster run ({@link ClusterRun}): loads the objective's data as the chief
   * does (same config, same files: the start-up check compared their checksums) and serves its replica's
   * shards, laid out from that copy, on a daemon thread ({@link BatchQueue}).
   */
  static void serveBatches(TrainConfig config, GrpcCluster cluster, PrintStream out) throws IOException {
    Path modelDir = ProjectPaths.resolve(config.model().modelNameOrPath());
    TrainingObjective<? extends MicroBatch> objective =
        TrainingObjectives.forConfig(config, modelDir, readModel(modelDir));
    objective.load(out);
    TrainingObjective.Examples<? extends MicroBatch> train = objective.train();
    TrainingObjective.Examples<? extends MicroBatch> dev = objective.dev();
    BatchQueue.serve(cluster, Sessions.config(config.training().numThreads()), origin -> {
      TrainingObjective.Examples<? extends MicroBatch> set = origin.set() == Batch.Origin.TRAIN ? train : dev;
      if (set == null) {
        throw new IllegalStateException("the chief asked for evaluation examples, but this task has no eval "
            + "data set: start every task with the same config");
      }
      if (!(set.batch(origin.positions()) instanceof Batch b)) {
        throw new IllegalStateException("this objective's batches cannot be laid out by a task of a cluster");
      }
      return b;
    }, out);
  }

  private static <B extends MicroBatch> Result train(TrainingObjective<B> objective, TrainConfig config,
      PrintStream out, boolean terminal, Path outputDir, GrpcCluster cluster) throws IOException {
    Run<B> run = new Run<>(config, out, terminal, outputDir, objective);
    run.cluster = cluster;
    run.checkInputs();
    run.claimOutput();
    run.plan();
    run.prepareReference();
    run.runStart = System.nanoTime(); // the run's time includes building the graph
    run.startup = StartupTimes.start();
    try (TrainingGraph<B> graph = objective.build(run.adam, run.replication());
        SafeTensorsReader weights = SafeTensorsReader.open(run.modelDir)) {
      run.startup.mark("graph_build_s");
      run.start(graph, weights);
      run.train();
      return run.finish();
    }
  }

  /** What the policy's backward pass recomputes ({@code recompute_granularity}); null without {@code recompute}. */
  public static Recompute.Granularity recomputeBlocks(TrainingArgs t) {
    return t.recompute() ? Recompute.Granularity.byName(t.recomputeGranularity()) : null;
  }

  /** One run's state, in the order the steps of {@link DpoTrainer#run} fill it. */
  private static final class Run<B extends MicroBatch> {
    final TrainConfig config;
    final TrainingArgs t;
    final PrintStream out;
    final boolean terminal;
    final Path modelDir;
    final Path outputDir;
    final Path metricsFile;
    final List<Map<String, Double>> logged = new ArrayList<>();
    final List<Double> stepSeconds = new ArrayList<>();
    final List<Double> stepCpuSeconds = new ArrayList<>();
    TrainingCheckpoints checkpoints;
    Optional<TrainingCheckpoints.Resume> resume;
    final TrainingObjective<B> objective;
    TrainingObjective.Examples<B> examples;
    String runId;
    boolean shuffle;
    EpochSampler sampler;
    long stepsPerEpoch;
    long total;
    LrSchedule schedule;
    long warmup;
    AdamW.Hyper adam;
    TrainingGraph<B> graph;
    LogInterval interval;
    Evaluator evaluator;
    TrainerState.Run position;
    long runStart;
    StartupTimes startup;
    long tokensThisRun;
    long step;
    int epoch;
    int next;
    long totalTokens;
    long firstStep;
    RunClock clock;
    Console console;
    /** The gRPC cluster this process is the chief of; null in one process. */
    GrpcCluster cluster;

    Run(TrainConfig config, PrintStream out, boolean terminal, Path outputDir, TrainingObjective<B> objective) {
      this.config = config;
      this.objective = objective;
      this.t = config.training();
      this.out = out;
      this.terminal = terminal;
      this.modelDir = ProjectPaths.resolve(config.model().modelNameOrPath());
      this.outputDir = outputDir;
      this.metricsFile = outputDir.resolve(METRICS_FILE);
    }

    /**
     * Everything the run reads, read-only and before anything is written: the kernels (and XLA's
     * process flag, before the first session), the checkpoint to resume and whether it fits this
     * config, the objective's data, dev set and reference, and its weight files.
     */
    void checkInputs() throws IOException {
      out.println(OneDnn.detect().describe());
      if (t.useXla()) {
        Xla.enableForProcess(); // before the first session of the process, the reference pass's included
      }
      if (t.bf16()) {
        out.println(Bf16Probe.measure(t.numThreads()).describe()); // after XLA's flag: it opens a session
      }
      resume = TrainingCheckpoints.locate(t.resumeFromCheckpoint(), outputDir, out);
      RunDirectory.checkStart(outputDir, t.overwriteOutputDir(), resume);
      RunDirectory.checkInputsSurvive(outputDir, t.overwriteOutputDir(), inputs(config, modelDir));
      if (resume.isPresent()) {
        ResumeGuard.check(resume.get().directory(), outputDir, config);
      }
      objective.load(out);
      checkWeights(objective.weightDirs());
      examples = objective.train();
    }

    /** Valid: from here on the run owns output_dir (its run id, config, data summaries, checkpoints). */
    void claimOutput() throws IOException {
      runId = RunDirectory.begin(outputDir, config, t.overwriteOutputDir(), resume, out);
      if (objective.trainSummary() != null) {
        Files.writeString(outputDir.resolve(SUMMARY_FILE), objective.trainSummary().toJson() + "\n");
      }
      if (objective.devSummary() != null) {
        Files.writeString(outputDir.resolve(Evaluator.SUMMARY_FILE), objective.devSummary().toJson() + "\n");
      }
      checkpoints = new TrainingCheckpoints(outputDir, t, runId);
      int cleaned = checkpoints.cleanUp();
      if (cleaned > 0) {
        out.printf("removed %d unfinished checkpoint write(s) left by an earlier crash%n", cleaned);
      }
    }

    /** The data order, the number of steps, the schedule and the batch layout. */
    void plan() {
      int accumulation = t.gradientAccumulationSteps();
      shuffle = config.data().trainSamplingStrategy().equals("random");
      // With several devices a micro-batch is the global one, split across them (docs/distributed.md).
      sampler = new EpochSampler(examples.size(), t.perDeviceTrainBatchSize() * replicas(), shuffle, t.seed());
      stepsPerEpoch = (sampler.batchesPerEpoch() + accumulation - 1) / accumulation;
      total = t.maxSteps() > 0 ? t.maxSteps() : (long) Math.ceil(t.numTrainEpochs() * stepsPerEpoch);
      schedule = LrSchedule.fromName(t.lrSchedulerType());
      warmup = LrSchedule.warmupSteps(t.warmupSteps(), total);
      adam = new AdamW.Hyper((float) t.adamBeta1(), (float) t.adamBeta2(), (float) t.adamEpsilon());
      if (t.profileStep() > total) {
        throw new ConfigException("profile_step " + t.profileStep() + " is past the run's last step, " + total
            + ": set a step from 1 to " + total + ", or 0 (no profile)");
      }
    }

    /** Before the training graph exists: a precompute pass holds the reference weights only while it runs. */
    void prepareReference() throws IOException {
      objective.prepareReference(t.numThreads(), config.computePrecision(), out);
    }

    /** How the graph replicates: the {@code devices} key, or one replica per task of the cluster. */
    Replication replication() {
      return new Replication(devices(), Math.round(t.allreduceBucketMb() * (1 << 20)),
          (float) t.collectiveTimeoutS(), cluster == null ? "" : cluster.target(), t.sharding().equals("stage1"));
    }

    /** Data-parallel replicas of this run (the {@code devices} key, or one per task of the cluster). */
    int replicas() {
      return devices().size();
    }

    List<String> devices() {
      return cluster == null ? config.devices() : cluster.devices();
    }

    /** Loads the weights, then the checkpoint's state when resuming. */
    void start(TrainingGraph<B> built, SafeTensorsReader weights) throws IOException {
      graph = built;
      objective.loadWeights(weights, out);
      graph.weightsLoaded();
      startup.mark("weights_s");
      interval = new LogInterval(graph.metricNames());
      evaluator = Evaluator.of(config, objective, graph, total);
      if (resume.isPresent()) {
        restore(resume.get());
      }
      firstStep = step;
      if (t.profileStep() > 0 && t.profileStep() <= step) {
        throw new ConfigException("profile_step " + t.profileStep() + " is not after the resumed checkpoint's step "
            + step + ": set a later step, or 0 (no profile)");
      }
      position = new TrainerState.Run(shuffle, t.seed(), total);
      out.printf("training: %d steps (%d per epoch), %d %s per micro-batch%s, %s%s%n",
          total, stepsPerEpoch, t.perDeviceTrainBatchSize() * replicas(), objective.unit(),
          replicas() > 1 ? " (" + t.perDeviceTrainBatchSize() + " on each of " + devices() + ")" : "",
          describeAccumulation(t.gradientAccumulationSteps(), sampler.batchesPerEpoch()),
          step > 0 ? ", continuing after step " + step : "");
      clock = new RunClock();
      interval.startClock();
    }

    private void restore(TrainingCheckpoints.Resume from) throws IOException {
      TrainerState saved = from.state();
      checkSameOrder(saved, shuffle, t.seed());
      graph.restoreState(from.directory().resolve(TrainingCheckpoints.TF_STATE));
      interval.restore(saved.interval());
      step = saved.globalStep();
      epoch = saved.epoch();
      next = saved.nextMicroBatch();
      totalTokens = saved.numTokens();
      Files.copy(from.directory().resolve(METRICS_FILE), metricsFile, StandardCopyOption.REPLACE_EXISTING);
    }

    /** The optimizer steps, epoch by epoch, with logging, evaluation and checkpoints after each. */
    void train() throws IOException {
      int accumulation = t.gradientAccumulationSteps();
      try (MetricsLog metrics = new MetricsLog(metricsFile, resume.isPresent(), runId);
          TensorBoardWriter board =
              t.reportTo().equals("tensorboard") ? new TensorBoardWriter(outputDir.resolve("runs")) : null;
          Console console = new Console(out, total, terminal)) {
        this.console = console;
        while (step < total) {
          List<int[]> microBatches = sampler.epoch(epoch);
          for (int start = next; start < microBatches.size() && step < total; start += accumulation) {
            List<int[]> group = microBatches.subList(start, Math.min(start + accumulation, microBatches.size()));
            boolean epochEnd = start + accumulation >= microBatches.size();
            double epochProgress = epochProgress(epoch, start + group.size(), microBatches.size());
            optimizerStep(group, start);
            log(epochProgress, metrics, board, console);
            evaluateIfDue(epochEnd, epochProgress, metrics, board);
            checkpointIfDue(epochEnd, start + accumulation, console);
          }
          epoch++;
          next = 0;
        }
        clock.stop();
      }
    }

    /**
     * A global micro-batch's positions split into at most {@code n} contiguous shards of
     * ceil(size / n) pairs, as accelerate hands consecutive per-device batches to its processes; a short
     * last batch gives fewer (or smaller) shards.
     */
    static List<int[]> shardPositions(int[] positions, int n) {
      List<int[]> shards = new ArrayList<>();
      int per = (positions.length + n - 1) / n;
      for (int from = 0; from < positions.length; from += per) {
        shards.add(java.util.Arrays.copyOfRange(positions, from, Math.min(positions.length, from + per)));
      }
      return shards;
    }

    /** Stops tracing and writes the traced step's profile into {@code output_dir/profile/}. */
    private void writeProfile(StepTrace trace) throws IOException {
      graph.trace(null);
      Path dir = outputDir.resolve("profile");
      List<String> table = trace.write(dir, step);
      console.message(table.get(0) + "; written to " + dir.resolve("step-" + step + ".trace.json") + " and "
          + dir.resolve("step-" + step + ".ops.txt"));
    }

    /** One optimizer step over {@code group}'s micro-batches; a non-finite step stops before the update. */
    private void optimizerStep(List<int[]> group, int start) throws IOException {
      step++;
      long stepStart = System.nanoTime();
      long stepCpuStart = StartupTimes.processCpuNanos();
      double lr = schedule.rate(t.learningRate(), step, total, warmup);
      float scale = 1f / group.size();
      double stepLoss = 0;
      // What a checkpoint of the previous step holds, in case this step turns out non-finite.
      TrainerState before = position.at(step - 1, epoch, start, totalTokens, interval.sums());
      NonFiniteStepException.Guard guard = new NonFiniteStepException.Guard(step, group.size());
      float[] optimizerScalars = AdamW.stepScalars(lr, t.weightDecay(), adam, step);
      StepTrace trace = step == t.profileStep() ? new StepTrace() : null;
      graph.trace(trace);
      DpoGraph.GradientNorm norm = null;
      for (int[] positions : group) {
        List<B> shards = new ArrayList<>();
        List<float[]> fed = new ArrayList<>();
        long tokens = 0;
        List<int[]> cut = shardPositions(positions, replicas());
        for (int k = 0; k < cut.size(); k++) {
          B batch = examples.shard(graph, k, cut.get(k));
          shards.add(batch);
          fed.add(objective.fedReference(batch));
          tokens += batch.realTokens(); // num_tokens: summed over the replicas
        }
        List<float[]> fedOrNull = fed.contains(null) ? null : fed;
        TrainingGraph.Micro r;
        if (group.size() == 1) { // the whole step in one call; the update only when finite
          TrainingGraph.Step whole = graph.step(shards, fedOrNull, optimizerScalars);
          r = whole.micro();
          norm = whole.norm();
        } else {
          r = graph.micro(shards, scale, fedOrNull);
        }
        guard.loss(r.metric("loss"), shards);
        interval.addMicro(r.metrics(), tokens);
        stepLoss += r.metric("loss") / group.size();
        totalTokens += tokens;
        tokensThisRun += tokens;
      }
      try {
        if (norm == null) {
          norm = guard.update(graph, optimizerScalars);
        } else {
          guard.check(norm); // step applied the update only if this passes
        }
      } catch (NonFiniteStepException e) { // thrown before anything changed
        throw keepLastGood(e, before, checkpoints, graph, objective, config, metricsFile, out);
      }
      if (step == firstStep + 1 && graph.xlaClusters() > 0) {
        console.message(graph.xlaClusters() + " compiled XLA cluster launch(es) per micro-batch");
      }
      if (step == firstStep + 1) {
        // Step 1 built the step's executors (Grappler's graph copies, kernels): give malloc's freed pages back.
        NativeMemory.trim();
      }
      if (trace != null) {
        writeProfile(trace);
      }
      objective.afterStep(step);
      stepSeconds.add((System.nanoTime() - stepStart) / 1e9);
      stepCpuSeconds.add((StartupTimes.processCpuNanos() - stepCpuStart) / 1e9);
      String startupLine = startup.firstStep(stepSeconds.get(0));
      if (startupLine != null) {
        console.message(startupLine);
      }
      interval.addStep(stepLoss, norm.total(), lr);
      clock.stepDone(tokensThisRun);
    }

    private void log(double epochProgress, MetricsLog metrics, TensorBoardWriter board, Console console)
        throws IOException {
      if (step % t.loggingSteps() != 0 && step != total) {
        return;
      }
      double tokensPerSecond = interval.tokensPerSecond();
      Map<String, Double> line = interval.flush(epochProgress, totalTokens);
      metrics.write(step, line);
      if (board != null) {
        board.metrics(step, line);
        board.metrics(step, Map.of("tokens_per_s", tokensPerSecond));
        board.flush();
      }
      logged.add(line);
      console.logged(step, line.get("loss"), objective.headlineLabel(), line.get(objective.headlineMetric()),
          tokensPerSecond, clock.eta(total - step));
    }

    /**
     * Before the checkpoint, so that the checkpoint's metrics.jsonl has the eval line too. An epoch cut
     * short by max_steps still ends with its evaluation, as in Hugging Face's Trainer.
     */
    private void evaluateIfDue(boolean epochEnd, double epochProgress, MetricsLog metrics, TensorBoardWriter board)
        throws IOException {
      boolean evaluate = evaluator != null
          && (evaluator.dueAfterStep(step) || ((epochEnd || step == total) && evaluator.dueAtEpochEnd()));
      if (evaluate) {
        long evalTime = evaluator.log(step, epochProgress, totalTokens, metrics, board, out);
        interval.exclude(evalTime);
        clock.evaluated(evalTime);
      }
    }

    private void checkpointIfDue(boolean epochEnd, int nextStart, Console console) throws IOException {
      if (checkpoints.due(step, epochEnd, step == total)) {
        TrainerState state = position.at(step, epochEnd ? epoch + 1 : epoch, epochEnd ? 0 : nextStart,
            totalTokens, interval.sums());
        Path saved = checkpoints.save(state, graph, objective, config, metricsFile);
        console.message("saved " + saved.getFileName());
      }
    }

    /** The trained model, the loss chart and the closing summary. */
    Result finish() throws IOException {
      List<Path> written = objective.writeModel(outputDir, Map.of(RunDirectory.RUN_ID, runId));
      Plots.writeLossChart(metricsFile, outputDir.resolve(LOSS_CHART));
      double seconds = (System.nanoTime() - runStart) / 1e9;
      double tokensPerSecond = clock.tokensPerSecond();
      out.printf("done: %d steps in %.1f s %s%n", step - firstStep, seconds, clock.summary());
      out.printf("outputs in %s: %s, %s, %s, %s%s, %s%s%n",
          outputDir, METRICS_FILE, LOSS_CHART, CONFIG_FILE, objective.trainSummary() != null ? SUMMARY_FILE + ", " : "",
          written.get(written.size() - 1).getFileName(), objective.modelFiles(),
          t.reportTo().equals("tensorboard") ? ", TensorBoard events in runs/" : "");
      return new Result(outputDir, step, tokensPerSecond, logged, stepSeconds, startup.seconds(),
          startup.cpuSeconds(), stepCpuSeconds, graph.variableBytes());
    }
  }

  /**
   * After a non-finite step: the graph still holds the previous step's weights and moments (the update
   * did not run), so they are saved as that step's checkpoint unless it exists already or saving is off.
   */
  private static NonFiniteStepException keepLastGood(NonFiniteStepException e, TrainerState lastGood,
      TrainingCheckpoints checkpoints, TrainingGraph<?> graph, TrainingObjective<?> objective, TrainConfig config,
      Path metricsFile, PrintStream out) throws IOException {
    if (lastGood.globalStep() == 0 || !checkpoints.enabled()) {
      return e;
    }
    Path kept = checkpoints.saveIfMissing(lastGood, graph, objective, config, metricsFile);
    out.println("last good state kept in " + kept);
    return new NonFiniteStepException(e.step(), e.quantity(), kept);
  }

  /** The paths the run reads, which its own writes must not remove. */
  private static List<Path> inputs(TrainConfig config, Path modelDir) {
    List<Path> in = new ArrayList<>(List.of(modelDir, ProjectPaths.resolve(config.data().trainDatasetPath())));
    for (String p : List.of(config.model().refModelNameOrPath(), config.model().tokenizerNameOrPath(),
        config.data().devDatasetPath())) {
      if (!p.isEmpty()) {
        in.add(ProjectPaths.resolve(p));
      }
    }
    return in;
  }

  /**
   * The objective's weight files (the model's, a reference's), read once in chunks before anything is
   * written: a missing, truncated or foreign file, or a NaN or infinite weight, is refused while
   * output_dir is as it was. The second read when the graph loads them comes from the page cache.
   */
  private static void checkWeights(List<Path> dirs) throws IOException {
    for (Path dir : dirs) {
      try (SafeTensorsReader weights = SafeTensorsReader.open(dir)) {
        FiniteValues.check(weights);
      }
    }
  }

  /** The model's config.json; a missing or unreadable one is the config's fault (model_name_or_path). */
  private static LlamaConfig readModel(Path modelDir) {
    try {
      return LlamaConfig.read(modelDir);
    } catch (IOException e) {
      throw new ConfigException("model_name_or_path " + modelDir + ": " + e.getMessage());
    }
  }

  /**
   * Hugging Face's logged {@code epoch}: {@code epoch} plus the micro-batches done in it over the
   * micro-batches per epoch (the Trainer's {@code epoch + (step + 1 + steps_skipped) / steps_in_epoch},
   * counted in micro-batches). When the accumulation does not divide an epoch this is not the optimizer
   * steps done over the steps per epoch: 2 of 5 micro-batches log 0.4, where 1 of 3 steps would be 0.333.
   */
  static double epochProgress(int epoch, int microBatchesDone, int microBatchesPerEpoch) {
    return epoch + (double) microBatchesDone / microBatchesPerEpoch;
  }

  /**
   * The micro-batches of a step as they really are: as in Hugging Face's Trainer, a step never spans two
   * epochs, so an accumulation larger than an epoch's micro-batches gives steps of a whole epoch.
   */
  static String describeAccumulation(int accumulation, int perEpoch) {
    if (accumulation <= perEpoch) {
      String last = perEpoch % accumulation == 0 ? ""
          : " (the last step of each epoch has " + perEpoch % accumulation + ", as in Hugging Face's Trainer)";
      return accumulation + " micro-batches per step" + last;
    }
    return perEpoch + " micro-batches per step (gradient_accumulation_steps " + accumulation + " is more than the "
        + perEpoch + " micro-batches of an epoch; as in Hugging Face's Trainer, a step ends with its epoch)";
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
}
