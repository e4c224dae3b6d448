/**
 * The training loop and what it needs around the graph: {@link dev.tfdpo.trainer.DpoTrainer} (the run
 * as named steps: output, data, plan, reference, start, train, finish), the one loop of every trainer,
 * which knows no objective: the trainer side of the objective seam is {@link
 * dev.tfdpo.trainer.TrainingObjective} (examples and batch layout, the {@code TrainingGraph} it builds and
 * loads, console metric, reference needs, model output), picked from {@code rlhf_type} by {@link
 * dev.tfdpo.trainer.TrainingObjectives} ({@code PairObjective}: dpo, cpo, orpo, simpo; {@code
 * KtoTraining}: kto; both {@code PolicyObjective}s over one {@code PolicyModel}; {@code RewardObjective}: rm); batching ({@link
 * dev.tfdpo.trainer.BatchBuilder}, {@code Collator}, {@code Packer}, {@code ShapeBuckets}, {@code
 * EpochSampler}), the reference model's one entry point ({@link dev.tfdpo.trainer.ReferenceModel}, with
 * its precomputed log-prob cache), checkpoints and resume ({@code TrainingCheckpoints}, {@code
 * TrainerState}), logging and evaluation; {@code ClusterRun}, one task of a gRPC cluster ({@code
 * TF_CONFIG}: the chief trains, the other tasks serve their replica) and {@code ClusterWatch}, what the
 * tasks check about each other (the same config and data at start-up, a hung task during the run).
 *
 * <p>May import: {@code dev.tfdpo.graphs} and its subpackages, {@code dev.tfdpo.ops}, {@code
 * dev.tfdpo.io}, {@code dev.tfdpo.data}, {@code dev.tfdpo.tokenizer}, {@code dev.tfdpo.trainer.config},
 * {@code dev.tfdpo.report}. Not {@code dev.tfdpo.export} or {@code dev.tfdpo.bench}, which sit on top.
 */
package dev.tfdpo.trainer;
