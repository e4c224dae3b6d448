package dev.tfdpo.trainer.config;

import com.google.gson.annotations.SerializedName;

/** Model section. */
public record ModelArgs(
    @SerializedName("model_name_or_path") String modelNameOrPath,
    @SerializedName("tokenizer_name_or_path") String tokenizerNameOrPath,
    @SerializedName("ref_model_name_or_path") String refModelNameOrPath) {}
