package dev.tfdpo.ops;

import org.tensorflow.Operand;
import org.tensorflow.types.TFloat32;

/**
 * What a preference loss sees of a micro-batch, each tensor {@code [P]} (one value per pair).
 *
 * <p>The four sequence log-probs are the ones the preference terms use: summed over the completion,
 * with LD-DPO's down-weighting of the tokens past {@code min(n_c, n_r)} when {@code ld_alpha < 1}
 * (policy and reference alike, as TRL 1.x). The NLL/SFT terms use {@link #policyChosenUnweighted}, the
 * plain sum, as TRL's {@code sft} cross-entropy does.
 *
 * @param policyChosen policy log-prob of chosen ({@code pi_c})
 * @param policyRejected same on rejected ({@code pi_r})
 * @param refChosen reference on chosen ({@code ref_c}); zeros when reference-free (no gradient)
 * @param refRejected reference on rejected ({@code ref_r})
 * @param chosenTokens completion lengths of chosen, EOS included ({@code n_c})
 * @param rejectedTokens completion lengths of rejected ({@code n_r})
 * @param policyChosenUnweighted plain sum of the policy's chosen completion log-probs (differentiable)
 * @param pairWeights WPO pair weights {@code w_c * w_r} (no gradient); ones when {@code use_weighting} is
 *     off
 */
public record PairLogProbs(
    Operand<TFloat32> policyChosen,
    Operand<TFloat32> policyRejected,
    Operand<TFloat32> refChosen,
    Operand<TFloat32> refRejected,
    Operand<TFloat32> chosenTokens,
    Operand<TFloat32> rejectedTokens,
    Operand<TFloat32> policyChosenUnweighted,
    Operand<TFloat32> pairWeights) {}
