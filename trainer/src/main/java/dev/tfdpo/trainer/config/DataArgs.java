package dev.tfdpo.trainer.config;

import com.google.gson.annotations.SerializedName;

/** Data section. */
public record DataArgs(
    @SerializedName("train_dataset_path") String trainDatasetPath,
    @SerializedName("max_seq_len") int maxSeqLen,
    @SerializedName("train_sampling_strategy") String trainSamplingStrategy) {}
