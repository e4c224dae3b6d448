package dev.tfdpo.trainer.config;

import com.google.gson.annotations.SerializedName;

/** Training section (optimizer, schedule, batch, logging). */
public record TrainingArgs(
    @SerializedName("output_dir") String outputDir,
    @SerializedName("per_device_train_batch_size") int perDeviceTrainBatchSize,
    @SerializedName("gradient_accumulation_steps") int gradientAccumulationSteps,
    @SerializedName("max_steps") int maxSteps,
    @SerializedName("num_train_epochs") double numTrainEpochs,
    @SerializedName("learning_rate") double learningRate,
    @SerializedName("warmup_steps") double warmupSteps,
    @SerializedName("lr_scheduler_type") String lrSchedulerType,
    @SerializedName("weight_decay") double weightDecay,
    @SerializedName("max_grad_norm") double maxGradNorm,
    @SerializedName("adam_beta1") double adamBeta1,
    @SerializedName("adam_beta2") double adamBeta2,
    @SerializedName("adam_epsilon") double adamEpsilon,
    @SerializedName("logging_steps") int loggingSteps,
    @SerializedName("evaluation_strategy") String evaluationStrategy,
    @SerializedName("eval_steps") double evalSteps,
    @SerializedName("per_device_eval_batch_size") int perDeviceEvalBatchSize,
    @SerializedName("seed") int seed,
    @SerializedName("bf16") boolean bf16,
    @SerializedName("report_to") String reportTo,
    @SerializedName("num_threads") int numThreads,
    @SerializedName("save_strategy") String saveStrategy,
    @SerializedName("save_steps") int saveSteps,
    @SerializedName("save_total_limit") int saveTotalLimit,
    @SerializedName("resume_from_checkpoint") String resumeFromCheckpoint,
    @SerializedName("use_xla") boolean useXla,
    @SerializedName("overwrite_output_dir") boolean overwriteOutputDir) {}
