package dev.tfdpo.trainer.config;

import com.google.gson.annotations.SerializedName;

/** DPO section (loss). */
public record DpoArgs(
    @SerializedName("beta") double beta,
    @SerializedName("loss_type") String lossType,
    @SerializedName("label_smoothing") double labelSmoothing) {}
