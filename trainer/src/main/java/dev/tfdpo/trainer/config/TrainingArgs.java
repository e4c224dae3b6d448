package dev.tfdpo.trainer.config;

/** Training section (optimizer, schedule, batch, logging). */
public record TrainingArgs(
    String outputDir,
    int perDeviceTrainBatchSize,
    int gradientAccumulationSteps,
    int maxSteps,
    double numTrainEpochs,
    double learningRate,
    double warmupSteps,
    String lrSchedulerType,
    double weightDecay,
    double maxGradNorm,
    double adamBeta1,
    double adamBeta2,
    double adamEpsilon,
    int loggingSteps,
    String evaluationStrategy,
    double evalSteps,
    int perDeviceEvalBatchSize,
    int seed,
    boolean bf16,
    String reportTo,
    int numThreads,
    String saveStrategy,
    int saveSteps,
    int saveTotalLimit,
    String resumeFromCheckpoint,
    boolean useXla,
    boolean overwriteOutputDir,
    boolean recompute,
    String recomputeGranularity) {

  /** What the policy's backward pass recomputes; null without {@code recompute}. */
  public dev.tfdpo.graphs.Recompute.Granularity recomputeBlocks() {
    return recompute ? dev.tfdpo.graphs.Recompute.Granularity.byName(recomputeGranularity) : null;
  }
}
