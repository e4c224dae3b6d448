package dev.tfdpo.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The LoRA golden run ({@code golden/lora/a-lora-r4}) reproduced by two {@code TrainMain} processes with
 * {@code TF_CONFIG} (2 pairs each, as {@link DistributedCurveTest} for full fine-tuning), within {@link
 * LoraCurveParityTest}'s bounds: task 1's replica builds the adapters over the shared frozen base too.
 */
class LoraDistributedCurveTest extends LoraGoldenParity {

  @Override
  String name() {
    return "a-lora-r4";
  }

  @Override
  List<String> extraArgs() {
    return List.of("--per_device_train_batch_size", "2", "--num_threads", "1");
  }

  /** The chief (task 0) writes {@code args}' output directory; task 1 gets its own, which it must not create. */
  @Override
  void run(List<String> args, Path dir) throws Exception {
    List<Process> p = new ArrayList<>();
    try {
      Tools.Result[] r = Tools.twoTasks(task -> {
        List<String> taskArgs = new ArrayList<>(List.of(LoraCurveParityTest.CONFIG.toString()));
        taskArgs.addAll(args);
        if (task == 1) {
          taskArgs.set(taskArgs.indexOf("--output_dir") + 1, dir.resolve("worker").toString());
        }
        return taskArgs;
      }, dir, "", p);
      assertEquals(0, r[0].status(), r[0].output());
      assertEquals(0, r[1].status(), r[1].output());
      assertTrue(r[0].output().contains("(2 on each of [/job:worker/replica:0/task:0/device:CPU:0, "
          + "/job:worker/replica:0/task:1/device:CPU:0])"), r[0].output());
    } finally {
      p.forEach(Process::destroyForcibly);
    }
  }
}
