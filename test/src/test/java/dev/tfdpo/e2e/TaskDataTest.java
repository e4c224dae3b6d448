package dev.tfdpo.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import dev.tfdpo.trainer.DpoTrainer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Every task of a cluster lays out its replica's shards from its own copy of the data (docs/distributed.md,
 * "Every task reads its own data"): packed rows, evaluation batches and KTO's rows with their KL rows as
 * well as plain pairs. Two {@code TrainMain} tasks on loopback train exactly as two replicas on two virtual
 * CPU devices of one process, which {@code DataParallelGraphTest} and {@code DataParallelObjectivesTest}
 * compare with one device: same shards, same kernels, so the bound is the 1e-6 relative although
 * the runs measured here are bitwise equal.
 */
class TaskDataTest {

  static final Path ROOT = DataParallelCurveTest.ROOT;

  @TempDir static Path work;
  static final List<Process> started = new ArrayList<>();

  @AfterAll
  static void stop() {
    started.forEach(Process::destroyForcibly);
  }

  /** Packed rows, another loss type, and an evaluation every 3 steps over a dev set in uneven shards (3 + 1 at its end). */
  @Test
  void packedPairsWithEvaluationTrainAsTwoDevices() throws Exception {
    compare("packed", ROOT.resolve("configs/reproduce/trl-dpo-tiny.json"), List.of("--max_steps", "6",
        "--packing", "true", "--max_seq_len", "384", "--loss_type", "hinge",
        "--dev_dataset_path", ROOT.resolve("test/fixtures/data/pref-en-64.jsonl").toString(),
        "--evaluation_strategy", "steps", "--eval_steps", "3", "--per_device_eval_batch_size", "3"), 8);
  }

  /**
   * KTO (labelled rows and KL rows) with its reference precomputed by the chief and fed to each replica
   * (the one-process run reuses the cache the chief wrote).
   */
  @Test
  void ktoWithAPrecomputedReferenceTrainsAsTwoDevices() throws Exception {
    compare("kto", ROOT.resolve("configs/trainers/kto-tiny.json"), List.of("--max_steps", "4",
        "--precompute_ref_log_probs", "true", "--ref_cache_dir", work.resolve("kto-cache").toString()), 4);
  }

  /**
   * Runs {@code config} with {@code extra} as 2 tasks and as 2 devices of one process, 2 examples per
   * replica, and requires the same {@code lines} metric lines.
   */
  private static void compare(String name, Path config, List<String> extra, int lines) throws Exception {
    List<String> common = new ArrayList<>(List.of(config.toString(), "--report_to", "none",
        "--per_device_train_batch_size", "2", "--num_threads", "1", "--save_strategy", "no"));
    common.addAll(extra);
    Path tasks = work.resolve(name + "-tasks");
    Tools.Result[] r = Tools.twoTasks(task -> with(common, "--output_dir",
        work.resolve(name + (task == 0 ? "-tasks" : "-worker")).toString()), work, name, started);
    assertEquals(0, r[0].status(), r[0].output());
    assertTrue(r[1].output().contains("rows read"), "task 1 reads its own copy of the data: " + r[1].output());
    Path devices = work.resolve(name + "-devices");
    Tools.Result one = Tools.run(Tools.TRAIN, with(common, "--devices", "2", "--output_dir", devices.toString()),
        work.resolve("log-" + name + "-devices.txt"));
    assertEquals(0, one.status(), one.output());
    List<JsonObject> a = DataParallelCurveTest.lines(devices.resolve(DpoTrainer.METRICS_FILE));
    List<JsonObject> b = DataParallelCurveTest.lines(tasks.resolve(DpoTrainer.METRICS_FILE));
    assertEquals(lines, a.size());
    assertEquals(a.size(), b.size());
    double worst = 0;
    for (int i = 0; i < a.size(); i++) {
      assertEquals(a.get(i).keySet(), b.get(i).keySet(), "line " + i);
      for (Map.Entry<String, JsonElement> e : a.get(i).entrySet()) {
        if (e.getKey().equals("run_id")) {
          continue;
        }
        double x = e.getValue().getAsDouble();
        double y = b.get(i).get(e.getKey()).getAsDouble();
        worst = Math.max(worst, Math.abs(x - y) / Math.max(1.0, Math.abs(x)));
        assertEquals(x, y, 1e-6 * Math.max(1.0, Math.abs(x)), name + " line " + i + ", " + e.getKey());
      }
    }
    System.out.printf("%s: 2 tasks against 2 devices, %d metric lines, worst relative difference %.1e%n", name,
        a.size(), worst);
  }

  private static List<String> with(List<String> args, String... more) {
    List<String> all = new ArrayList<>(args);
    all.addAll(List.of(more));
    return all;
  }
}
