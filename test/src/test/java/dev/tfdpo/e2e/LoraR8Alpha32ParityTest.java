package dev.tfdpo.e2e;

/**
 * TRL + PEFT's LoRA run with r 8, alpha 32 (scale 4) from PEFT's own initialization (B = 0, A
 * Kaiming-uniform from torch's seed 42): {@code golden/lora/a-lora-r8-a32}. The reference is the
 * starting policy, which with B = 0 is the base itself.
 */
class LoraR8Alpha32ParityTest extends LoraGoldenParity {

  @Override
  String name() {
    return "a-lora-r8-a32";
  }
}
