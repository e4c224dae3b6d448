package dev.tfdpo.e2e;

/**
 * TRL + PEFT's rsLoRA run (PEFT's {@code use_rslora}) with r 16, alpha 16 (scale 16 / sqrt(16) = 4) from a
 * non-zero starting adapter (B drawn N(0, 0.02^2)): {@code golden/lora/a-lora-rs16-a16}. The reference is
 * the base plus a frozen copy of that starting adapter (TRL's behaviour with a loaded adapter).
 */
class RsLoraR16ParityTest extends LoraGoldenParity {

  @Override
  String name() {
    return "a-lora-rs16-a16";
  }
}
