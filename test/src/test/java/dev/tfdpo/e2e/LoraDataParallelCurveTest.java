package dev.tfdpo.e2e;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonObject;
import dev.tfdpo.io.hf.PeftAdapter;
import dev.tfdpo.trainer.DpoTrainer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The LoRA golden run ({@code golden/lora/a-lora-r4}: TRL in one process, 4 pairs per micro-batch)
 * reproduced by two data-parallel replicas on two virtual CPU devices with 2 pairs each ({@code --devices
 * 2 --per_device_train_batch_size 2}), within {@link LoraCurveParityTest}'s bounds: each replica builds
 * the adapters over the shared frozen base, and their gradients are all-reduced. The same 2-device run
 * resumes bitwise and runs with a precomputed reference.
 */
class LoraDataParallelCurveTest extends LoraGoldenParity {

  @Override
  String name() {
    return "a-lora-r4";
  }

  @Override
  List<String> extraArgs() {
    // A checkpoint at step 8 too, for the resume below.
    return List.of("--devices", "2", "--per_device_train_batch_size", "2", "--save_steps", "8");
  }

  /**
   * Resumed from its next-to-last checkpoint, the 2-device run writes the same metrics and, bitwise, the
   * same adapter: the checkpoint holds the adapters and their Adam moments (kept on the first device).
   */
  @Test
  void resumesBitwise(@TempDir Path work) throws Exception {
    List<Path> checkpoints;
    try (var dirs = Files.list(out)) {
      checkpoints = dirs.filter(d -> d.getFileName().toString().startsWith("checkpoint-"))
          .sorted(java.util.Comparator.comparingInt(d -> Integer.parseInt(d.getFileName().toString().substring(11))))
          .toList();
    }
    assertTrue(checkpoints.size() >= 2, "checkpoints: " + checkpoints);
    Path resumed = work.resolve("resumed");
    ResumeTest.copyTree(out, resumed);
    for (String gone : List.of(checkpoints.get(checkpoints.size() - 1).getFileName().toString(),
        PeftAdapter.WEIGHTS_FILE, PeftAdapter.CONFIG_FILE, "latest")) {
      ResumeTest.deleteTree(resumed.resolve(gone));
    }
    List<String> again = new ArrayList<>(args);
    again.set(again.indexOf("--output_dir") + 1, resumed.toString());
    again.addAll(List.of("--resume_from_checkpoint", "auto"));
    run(again, work);
    assertEquals(Files.readString(out.resolve(DpoTrainer.METRICS_FILE)),
        Files.readString(resumed.resolve(DpoTrainer.METRICS_FILE)));
    assertArrayEquals(ResumeTest.tensorBytes(out.resolve(PeftAdapter.WEIGHTS_FILE)),
        ResumeTest.tensorBytes(resumed.resolve(PeftAdapter.WEIGHTS_FILE)));
  }

  /**
   * With {@code precompute_ref_log_probs} the one-device pass (base + starting adapter) feeds each replica
   * its shard's reference log-probs: the curve stays within the golden bounds.
   */
  @Test
  void precomputedReferenceReproducesTheCurveToo(@TempDir Path work) throws Exception {
    List<String> fed = new ArrayList<>(args);
    fed.set(fed.indexOf("--output_dir") + 1, work.resolve("run").toString());
    fed.addAll(List.of("--precompute_ref_log_probs", "true", "--ref_cache_dir", work.resolve("cache").toString()));
    run(fed, work);
    List<JsonObject> curve = TrlCurveParityTest.lines(work.resolve("run").resolve(DpoTrainer.METRICS_FILE));
    CurveParity.assertMatches("2 replicas, precomputed reference", golden, curve);
  }
}
