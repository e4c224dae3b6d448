package dev.tfdpo.ops;

/**
 * Scalar settings of the preference losses.
 *
 * @param beta the DPO temperature {@code b}
 * @param labelSmoothing {@code e}: cDPO's label noise for {@code sigmoid}
 */
public record LossParams(float beta, float labelSmoothing) {}
