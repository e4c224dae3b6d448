package dev.tfdpo.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonObject;
import dev.tfdpo.trainer.DpoTrainer;
import dev.tfdpo.trainer.config.TrainConfig;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A LoRA run over an nf4 base with two {@code TF_CONFIG} tasks: task 1 reads its own copy of the
 * quantized base (codes and scales copied once after the load, not read from task 0 at every pass), and
 * the run equals two replicas in one process metric for metric.
 */
class QuantizedLoraTasksTest {

  @TempDir Path work;

  private static final List<String> ARGS = List.of("--max_steps", "3", "--per_device_train_batch_size", "2",
      "--weight_quantize_algo", "nf4", "--report_to", "none", "--num_threads", "1");

  @Test
  void twoTasksEqualTwoInProcessReplicas() throws Exception {
    Path config = Tools.ROOT.resolve("configs/reproduce/trl-dpo-lora-tiny.json");
    List<String> inProcess = new ArrayList<>(ARGS);
    inProcess.addAll(List.of("--output_dir", work.resolve("devices").toString(), "--devices", "2"));
    DpoTrainer.run(TrainConfig.load(config, inProcess), new PrintStream(new ByteArrayOutputStream()), false);

    List<Process> p = new ArrayList<>();
    try {
      Tools.Result[] r = Tools.twoTasks(task -> {
        List<String> args = new ArrayList<>(List.of(config.toString()));
        args.addAll(ARGS);
        args.addAll(List.of("--output_dir", work.resolve("task" + task).toString()));
        return args;
      }, work, "", p);
      assertEquals(0, r[0].status(), r[0].output());
      assertTrue(r[0].output().contains("each other replica holds its own copy of the weights it reads (frozen)"), r[0].output());
    } finally {
      p.forEach(Process::destroyForcibly);
    }
    List<JsonObject> one = TrlCurveParityTest.lines(work.resolve("devices").resolve(DpoTrainer.METRICS_FILE));
    List<JsonObject> two = TrlCurveParityTest.lines(work.resolve("task0").resolve(DpoTrainer.METRICS_FILE));
    assertEquals(3, two.size());
    for (int i = 0; i < one.size(); i++) {
      for (String key : one.get(i).keySet()) {
        if (!key.contains("time") && !key.contains("per_second") && !key.equals("run_id")) {
          assertEquals(one.get(i).get(key), two.get(i).get(key), "step " + (i + 1) + " " + key);
        }
      }
    }
  }
}
