package dev.tfdpo.trainer.config;

import com.google.gson.annotations.SerializedName;
import java.util.List;

/** DPO section: the loss and its options. */
public record DpoArgs(
    @SerializedName("beta") double beta,
    @SerializedName("loss_type") List<String> lossType,
    @SerializedName("loss_weights") List<Double> lossWeights,
    @SerializedName("label_smoothing") double labelSmoothing,
    @SerializedName("discopop_tau") double discopopTau,
    @SerializedName("dpop_lambda") double dpopLambda,
    @SerializedName("simpo_gamma") double simpoGamma,
    @SerializedName("pref_loss_ratio") double prefLossRatio,
    @SerializedName("sft_loss_ratio") double sftLossRatio,
    @SerializedName("rpo_alpha") double rpoAlpha,
    @SerializedName("pref_ftx") double prefFtx,
    @SerializedName("use_weighting") boolean useWeighting,
    @SerializedName("ld_alpha") double ldAlpha,
    @SerializedName("f_divergence_type") String fDivergenceType,
    @SerializedName("f_alpha_divergence_coef") double fAlphaDivergenceCoef,
    @SerializedName("reference_free") boolean referenceFree,
    @SerializedName("precompute_ref_log_probs") boolean precomputeRefLogProbs,
    @SerializedName("precompute_ref_batch_size") int precomputeRefBatchSize,
    @SerializedName("ref_cache_dir") String refCacheDir,
    @SerializedName("ref_model_update_steps") int refModelUpdateSteps,
    @SerializedName("sync_ref_model") boolean syncRefModel,
    @SerializedName("ref_model_mixup_alpha") double refModelMixupAlpha,
    @SerializedName("ref_model_sync_steps") int refModelSyncSteps) {}
