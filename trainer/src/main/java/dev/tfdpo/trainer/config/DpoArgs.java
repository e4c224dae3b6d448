package dev.tfdpo.trainer.config;
import java.util.List;

/** DPO section: the loss and its options. */
public record DpoArgs(
    double beta,
    List<String> lossType,
    List<Double> lossWeights,
    double labelSmoothing,
    double discopopTau,
    double dpopLambda,
    double simpoGamma,
    double prefLossRatio,
    double sftLossRatio,
    double rpoAlpha,
    double prefFtx,
    boolean useWeighting,
    double ldAlpha,
    String fDivergenceType,
    double fAlphaDivergenceCoef,
    boolean referenceFree,
    boolean precomputeRefLogProbs,
    int precomputeRefBatchSize,
    String refCacheDir,
    int refModelUpdateSteps,
    boolean syncRefModel,
    double refModelMixupAlpha,
    int refModelSyncSteps,
    String rlhfType,
    double desirableWeight,
    double undesirableWeight,
    double centerRewardsCoefficient) {}
