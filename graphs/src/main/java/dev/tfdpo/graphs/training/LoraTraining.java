package dev.tfdpo.graphs.training;

import dev.tfdpo.graphs.LoraAdapters;
import dev.tfdpo.graphs.QuantizedWeights;

/**
 * LoRA training: the policy is the frozen base plus trainable adapters ({@link LoraAdapters}), and a live
 * reference is the starting policy on the same base, with no second copy of it.
 *
 * @param spec rank, alpha, rsLoRA and the targeted projections
 * @param plusScale LoRA+: the B matrices' learning rate is this times the learning rate (1 = plain LoRA)
 * @param frozenStart the reference holds a frozen copy of the starting adapter (TRL's behaviour when the
 *     adapter is loaded from {@code lora_path}); false: the adapter starts at zero (B = 0), so the
 *     reference is the base with the adapter off (PaddleNLP's)
 * @param quantize store the frozen base's projection weights quantized ({@link QuantizedWeights}); null:
 *     float32
 */
public record LoraTraining(LoraAdapters.Spec spec, float plusScale, boolean frozenStart,
    QuantizedWeights.Algo quantize) {

  /** A float32 base. */
  public LoraTraining(LoraAdapters.Spec spec, float plusScale, boolean frozenStart) {
    this(spec, plusScale, frozenStart, null);
  }

  /** Checks the values. */
  public LoraTraining {
    if (!(plusScale > 0) || !Float.isFinite(plusScale)) {
      throw new IllegalArgumentException("lora_plus_scale must be positive, got " + plusScale);
    }
  }

  /** The scope of the trained adapters. */
  static final String POLICY_SCOPE = "policy_lora";

  /** The scope of the reference's frozen copy of the starting adapters. */
  static final String REFERENCE_SCOPE = "reference_lora";
}
