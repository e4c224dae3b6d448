/**
 * The training graph, built once per run ({@link dev.tfdpo.graphs.training.DpoGraph}), and the batch
 * contract it is fed through ({@link dev.tfdpo.graphs.training.Batch}, {@link
 * dev.tfdpo.graphs.training.BatchInputs}). The graph is a short sequence of parts, each behind a seam
 * that a later trainer plugs into:
 *
 * <ul>
 *   <li><b>Objective seam</b> ({@link dev.tfdpo.graphs.training.Objective}): from per-sequence log-probs
 *       of the policy (and of the reference, when {@code readsReference()}) to the micro-batch loss and
 *       its named metrics. DPO with every loss type, padded or packed, is {@link
 *       dev.tfdpo.graphs.training.DpoObjective}; KTO is {@link dev.tfdpo.graphs.training.KtoObjective}
 *       (its rows and KL rows as the two sequences of a pair slot, the rows' labels from
 *       {@code BatchInputs.labels()}).
 *   <li><b>Graph seam</b> ({@link dev.tfdpo.graphs.training.TrainingGraph}): what the one training loop
 *       calls on a graph (micro-batch, evaluation, norm, update, metrics, state). {@code DpoGraph} is the
 *       log-prob graph of the objectives above; {@link dev.tfdpo.graphs.training.RewardGraph} the reward
 *       model's (backbone, scalar {@code score} head, Bradley-Terry loss).
 *   <li><b>Parameter seam</b> ({@link dev.tfdpo.graphs.training.ParameterSet}): the weights that get
 *       gradients, accumulators, optimizer state and checkpoints: every policy weight, or with {@link
 *       dev.tfdpo.graphs.training.LoraTraining} only the LoRA adapters over a frozen (optionally
 *       quantized) base. Everything else (the reference, the base) is frozen.
 *   <li><b>Replica seam</b>: {@code GradientAccumulation} (backward pass into per-parameter
 *       accumulators) and {@code OptimizerUpdate} (norms, clipping, AdamW) are separate parts; {@code
 *       GradientAccumulation.combined} is the one place the update reads gradients. With several
 *       devices ({@link dev.tfdpo.graphs.training.Replication}) each replica ({@code DataParallel}) has
 *       its own inputs, forward, backward and accumulators on its device, and {@code GradientAllReduce}
 *       sums the accumulators across replicas once per step (bucketed {@code CollectiveReduceV2}) before
 *       the update reads them; weights and AdamW state are held once. A replica on a task of a gRPC cluster
 *       reads the batches its own task lays out ({@link dev.tfdpo.graphs.training.BatchQueue}). With LoRA every replica's
 *       forward adds the one set of adapters (and its reference the one frozen starting copy) over the
 *       one shared base, and only the adapters' gradients are all-reduced.
 *   <li><b>Reference</b>: {@code ReferenceBranch} is the reference's side of the graph (live, fed or
 *       none); {@link dev.tfdpo.graphs.training.ReferencePass} the forward-only graph that precomputes
 *       reference log-probs. The trainer reaches both through its ReferenceModel.
 * </ul>
 *
 * <p>May import: {@code dev.tfdpo.graphs}, {@code dev.tfdpo.ops}, {@code dev.tfdpo.io}, TensorFlow, Gson (the
 * step profile's trace file, {@link dev.tfdpo.graphs.training.StepTrace}).
 * Nothing of the trainer, its config or the data pipeline: settings arrive as records.
 */
package dev.tfdpo.graphs.training;
