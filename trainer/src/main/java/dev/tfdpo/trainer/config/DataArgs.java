package dev.tfdpo.trainer.config;

import com.google.gson.annotations.SerializedName;
import java.util.Map;

/** Data section. */
public record DataArgs(
    @SerializedName("train_dataset_path") String trainDatasetPath,
    @SerializedName("dataset_format") String datasetFormat,
    @SerializedName("chat_template") String chatTemplate,
    @SerializedName("map_keys") Map<String, String> mapKeys,
    @SerializedName("max_seq_len") int maxSeqLen,
    @SerializedName("max_prompt_len") int maxPromptLen,
    @SerializedName("truncation_mode") String truncationMode,
    @SerializedName("on_bad_row") String onBadRow,
    @SerializedName("packing") boolean packing,
    @SerializedName("greedy_zero_padding") boolean greedyZeroPadding,
    @SerializedName("train_sampling_strategy") String trainSamplingStrategy,
    @SerializedName("dev_dataset_path") String devDatasetPath) {}
