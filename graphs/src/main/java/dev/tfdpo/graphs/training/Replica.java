package dev.tfdpo.graphs.training;

import java.util.List;
import org.tensorflow.Operand;
import org.tensorflow.op.Op;
import org.tensorflow.op.core.Placeholder;
import org.tensorflow.types.TFloat32;

/**
 * One data-parallel replica's part of the training graph: its own inputs, forward and backward pass,
 * objective and gradient accumulators, on its own device ({@link DataParallel}).
 *
 * @param inputs its micro-batch shard's placeholders
 * @param gradScale the fed weight of its gradient {@code []}
 * @param policyLogps plain summed policy log-probs per sequence {@code [S]}
 * @param reference its reference branch
 * @param metrics the objective's metrics on its shard {@code [K]}
 * @param gradients its accumulators and accumulate target
 * @param mirrorCopies assignments filling its device's copies of weights from the first replica's
 *     ({@link DataParallel#replica}); empty when it reads the first replica's directly
 * @param policyCopy its copy of the trained policy, refreshed after each update; null: none
 */
record Replica(
    BatchInputs inputs,
    Placeholder<TFloat32> gradScale,
    Operand<TFloat32> policyLogps,
    ReferenceBranch reference,
    Operand<TFloat32> metrics,
    GradientAccumulation gradients,
    List<Op> mirrorCopies,
    dev.tfdpo.graphs.Llama policyCopy) {}
