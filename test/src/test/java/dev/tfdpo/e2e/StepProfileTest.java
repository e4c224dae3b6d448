package dev.tfdpo.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonElement;
import com.google.gson.JsonParser;
import dev.tfdpo.trainer.DpoTrainer;
import dev.tfdpo.trainer.config.ConfigException;
import dev.tfdpo.trainer.config.TrainConfig;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code profile_step}: the named step's session runs are traced into {@code output_dir/profile/} (a
 * Chrome trace and a table of kernel time by op type), the other steps not; a step the run never reaches
 * is refused before training.
 */
class StepProfileTest {

  @TempDir Path work;

  private static String train(String config, Path dir, List<String> extra) throws Exception {
    List<String> args = new ArrayList<>(List.of("--output_dir", dir.toString(), "--report_to", "none",
        "--num_threads", "2"));
    args.addAll(extra);
    ByteArrayOutputStream log = new ByteArrayOutputStream();
    DpoTrainer.run(TrainConfig.load(Tools.ROOT.resolve(config), args), new PrintStream(log, true, StandardCharsets.UTF_8),
        false);
    return log.toString(StandardCharsets.UTF_8);
  }

  /** The trace's kernels: every event of a named op type with a duration; returns how many are matrix products. */
  private static long checkTrace(Path file) throws Exception {
    long products = 0;
    int kernels = 0;
    for (JsonElement e : JsonParser.parseString(Files.readString(file)).getAsJsonObject().getAsJsonArray("traceEvents")) {
      var event = e.getAsJsonObject();
      if (event.get("ph").getAsString().equals("X")) {
        kernels++;
        assertTrue(event.get("dur").getAsLong() >= 0 && event.get("ts").getAsLong() >= 0, event.toString());
        products += event.get("cat").getAsString().contains("MatMul") ? 1 : 0;
      }
    }
    assertTrue(kernels > 100, kernels + " kernels");
    return products;
  }

  @Test
  void theNamedStepIsTracedAccumulatingOrFused() throws Exception {
    // configs/default.json accumulates 2 micro-batches: 2 forward/backward runs, the norm, the update.
    // With gradient_accumulation_steps 1 the step is one fused run.
    for (var c : List.of(new Object[] {List.<String>of(), 4}, new Object[] {List.of("--gradient_accumulation_steps", "1"), 1})) {
      @SuppressWarnings("unchecked")
      List<String> extra = new ArrayList<>((List<String>) c[0]);
      Path dir = work.resolve("run" + c[1]);
      extra.addAll(List.of("--max_steps", "3", "--profile_step", "2"));
      String log = train("configs/default.json", dir, extra);
      Path profile = dir.resolve("profile");
      assertEquals(List.of("step-2.ops.txt", "step-2.trace.json"),
          Files.list(profile).map(p -> p.getFileName().toString()).sorted().toList(), "only step 2 is traced");
      List<String> table = Files.readAllLines(profile.resolve("step-2.ops.txt"));
      assertTrue(table.get(0).startsWith("profile of step 2: " + c[1] + " session run(s)"), table.get(0));
      assertTrue(log.contains(table.get(0) + "; written to "), log);
      assertTrue(checkTrace(profile.resolve("step-2.trace.json")) > 0, "matrix products traced");
    }
  }

  @Test
  void aRewardModelStepIsTracedToo() throws Exception {
    Path dir = work.resolve("rm");
    train("configs/trainers/rm-tiny.json", dir, List.of("--max_steps", "2", "--profile_step", "1"));
    assertTrue(checkTrace(dir.resolve("profile/step-1.trace.json")) > 0);
  }

  @Test
  void aStepPastTheRunIsRefusedBeforeTraining() {
    ConfigException e = assertThrows(ConfigException.class,
        () -> train("configs/default.json", work.resolve("past"), List.of("--max_steps", "3", "--profile_step", "4")));
    assertEquals("profile_step 4 is past the run's last step, 3: set a step from 1 to 3, or 0 (no profile)",
        e.getMessage());
    assertTrue(!Files.exists(work.resolve("past/metrics.jsonl")));
  }
}
