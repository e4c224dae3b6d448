package dev.tfdpo.ops;

import org.tensorflow.Operand;
import org.tensorflow.types.TFloat32;

/**
 * What a preference loss sees of a micro-batch, each tensor {@code [P]} (one value per pair).
 *
 * @param policyChosen summed completion log-probs of the policy on chosen ({@code pi_c})
 * @param policyRejected same on rejected ({@code pi_r})
 * @param refChosen reference on chosen ({@code ref_c}); zeros when reference-free
 * @param refRejected reference on rejected ({@code ref_r})
 * @param chosenTokens completion lengths of chosen, EOS included ({@code n_c})
 * @param rejectedTokens completion lengths of rejected ({@code n_r})
 */
public record PairLogProbs(
    Operand<TFloat32> policyChosen,
    Operand<TFloat32> policyRejected,
    Operand<TFloat32> refChosen,
    Operand<TFloat32> refRejected,
    Operand<TFloat32> chosenTokens,
    Operand<TFloat32> rejectedTokens) {}
