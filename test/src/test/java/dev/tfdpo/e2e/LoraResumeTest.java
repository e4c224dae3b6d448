package dev.tfdpo.e2e;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tfdpo.io.hf.PeftAdapter;
import dev.tfdpo.trainer.DpoTrainer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A LoRA run (starting adapter from {@code lora_path}, LoRA+, shuffled data) resumed from a checkpoint
 * writes the same metrics and, bitwise, the same adapter as the uninterrupted run: the checkpoint holds
 * the adapters and their Adam moments; the base comes from model_name_or_path and the reference's
 * frozen adapter copy from lora_path again.
 */
class LoraResumeTest {

  static final List<String> LORA = List.of("--lora", "true",
      "--lora_path", TrlCurveParityTest.ROOT.resolve("test/fixtures/golden/lora/a-lora-r4-init").toString(),
      "--lora_plus_scale", "2", "--learning_rate", "1e-3", "--max_steps", "6", "--logging_steps", "1");

  @TempDir static Path work;

  @Test
  void resumedLoraRunIsBitwiseTheUninterruptedOne() throws Exception {
    Path whole = work.resolve("whole");
    ResumeTest.run(whole, LORA);
    assertTrue(Files.exists(whole.resolve("checkpoint-4").resolve(PeftAdapter.WEIGHTS_FILE)),
        "checkpoints hold the PEFT adapter");
    assertFalse(Files.exists(whole.resolve("model.safetensors")), "a LoRA run writes no copy of the base");
    Path resumed = work.resolve("resumed");
    ResumeTest.copyTree(whole, resumed);
    for (String gone : List.of("checkpoint-6", PeftAdapter.WEIGHTS_FILE, PeftAdapter.CONFIG_FILE, "latest")) {
      ResumeTest.deleteTree(resumed.resolve(gone));
    }
    List<String> again = new ArrayList<>(LORA);
    again.addAll(List.of("--resume_from_checkpoint", "auto"));
    String log = ResumeTest.run(resumed, again);
    assertTrue(log.contains("checkpoint-4 (step 4"), log);
    assertEquals(Files.readString(whole.resolve(DpoTrainer.METRICS_FILE)),
        Files.readString(resumed.resolve(DpoTrainer.METRICS_FILE)));
    assertArrayEquals(ResumeTest.tensorBytes(whole.resolve(PeftAdapter.WEIGHTS_FILE)),
        ResumeTest.tensorBytes(resumed.resolve(PeftAdapter.WEIGHTS_FILE)));
  }
}
