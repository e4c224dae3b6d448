package dev.tfdpo.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

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
    int[] ports = {DistributedCurveTest.freePort(), DistributedCurveTest.freePort()};
    String workers = "[\"127.0.0.1:" + ports[0] + "\", \"127.0.0.1:" + ports[1] + "\"]";
    List<Process> p = new ArrayList<>();
    try {
      for (int task = 0; task < 2; task++) {
        List<String> taskArgs = new ArrayList<>(List.of(LoraCurveParityTest.CONFIG.toString()));
        taskArgs.addAll(args);
        if (task == 1) {
          taskArgs.set(taskArgs.indexOf("--output_dir") + 1, dir.resolve("worker").toString());
        }
        p.add(Tools.start(Tools.TRAIN, taskArgs, dir.resolve("log-" + task + ".txt"), Map.of("TF_CONFIG",
            "{\"cluster\": {\"worker\": " + workers + "}, \"task\": {\"type\": \"worker\", \"index\": " + task + "}}")));
      }
      assertTrue(p.get(0).waitFor(300, TimeUnit.SECONDS), "the chief did not end");
      assertTrue(p.get(1).waitFor(30, TimeUnit.SECONDS), "the worker did not end after the chief");
      String chiefLog = Files.readString(dir.resolve("log-0.txt"));
      assertEquals(0, p.get(0).exitValue(), chiefLog);
      assertEquals(0, p.get(1).exitValue(), Files.readString(dir.resolve("log-1.txt")));
      assertTrue(chiefLog.contains("(2 on each of [/job:worker/replica:0/task:0/device:CPU:0, "
          + "/job:worker/replica:0/task:1/device:CPU:0])"), chiefLog);
    } finally {
      p.forEach(Process::destroyForcibly);
    }
  }
}
