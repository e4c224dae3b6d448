package dev.tfdpo.e2e;

import java.util.List;

/**
 * The LoRA golden run ({@code golden/lora/a-lora-r4}: TRL in one process, 4 pairs per micro-batch)
 * reproduced by two data-parallel replicas on two virtual CPU devices with 2 pairs each ({@code --devices
 * 2 --per_device_train_batch_size 2}), within {@link LoraCurveParityTest}'s bounds: each replica builds
 * the adapters over the shared frozen base, and their gradients are all-reduced.
 */
class LoraDataParallelCurveTest extends LoraGoldenParity {

  @Override
  String name() {
    return "a-lora-r4";
  }

  @Override
  List<String> extraArgs() {
    return List.of("--devices", "2", "--per_device_train_batch_size", "2");
  }
}
