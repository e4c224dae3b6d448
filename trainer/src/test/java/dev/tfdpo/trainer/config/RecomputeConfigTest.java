package dev.tfdpo.trainer.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tfdpo.graphs.Recompute.Granularity;
import dev.tfdpo.trainer.DpoTrainer;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code recompute} / {@code gradient_checkpointing} and {@code recompute_granularity}: values and refusals. */
class RecomputeConfigTest {

  @TempDir Path dir;

  TrainConfig load(String extra, String... args) throws IOException {
    Path f = dir.resolve("c.json");
    Files.writeString(f, "{\"model_name_or_path\": \"m\", \"train_dataset_path\": \"d\"" + extra + "}");
    return TrainConfig.load(f, List.of(args));
  }

  @Test
  void offByDefault() throws IOException {
    TrainConfig c = load("");
    assertNull(DpoTrainer.recomputeBlocks(c.training()));
    assertEquals("full", c.training().recomputeGranularity());
  }

  @Test
  void trlGradientCheckpointingIsRecomputeOfWholeLayers() throws IOException {
    assertEquals(Granularity.FULL, DpoTrainer.recomputeBlocks(load(", \"gradient_checkpointing\": true").training()));
    assertEquals(Granularity.FULL, DpoTrainer.recomputeBlocks(load("", "--gradient_checkpointing", "true").training()));
  }

  @Test
  void everyGranularity() throws IOException {
    for (Granularity g : Granularity.values()) {
      TrainConfig c = load(", \"recompute\": true, \"recompute_granularity\": \"" + g.configName() + "\"");
      assertEquals(g, DpoTrainer.recomputeBlocks(c.training()));
    }
  }

  @Test
  void theKeyAcceptsExactlyTheGraphsGranularities() {
    // The config package may not import the graphs (package-info), so the names are spelled twice.
    for (Granularity g : Granularity.values()) {
      assertNull(ConfigKey.RECOMPUTE_GRANULARITY.valid().problem(ConfigKey.RECOMPUTE_GRANULARITY,
          new com.google.gson.JsonPrimitive(g.configName())), g.configName());
    }
    assertEquals("one of full, full_attn, core_attn", ConfigKey.RECOMPUTE_GRANULARITY.valid().describe());
  }

  @Test
  void anUnknownGranularityIsRefusedWithTheValues() {
    ConfigException e = assertThrows(ConfigException.class,
        () -> load(", \"recompute\": true, \"recompute_granularity\": \"layer\""));
    assertTrue(e.getMessage().contains("recompute_granularity") && e.getMessage().contains("core_attn"),
        e.getMessage());
  }

  @Test
  void aGranularityWithoutRecomputeIsRefused() {
    ConfigException e = assertThrows(ConfigException.class,
        () -> load(", \"recompute_granularity\": \"core_attn\""));
    assertTrue(e.getMessage().contains("c.json:1") && e.getMessage().contains("no effect"), e.getMessage());
  }

  @Test
  void theSavedResolvedConfigLoadsBack() throws IOException {
    // Every key is written out, the default granularity with recompute off included.
    Path saved = dir.resolve("resolved.json");
    load("").save(saved);
    assertNull(DpoTrainer.recomputeBlocks(TrainConfig.load(saved, List.of()).training()));
    load(", \"recompute\": true, \"recompute_granularity\": \"core_attn\"").save(saved);
    assertEquals(Granularity.CORE_ATTN, DpoTrainer.recomputeBlocks(TrainConfig.load(saved, List.of()).training()));
  }

  @Test
  void recomputeCombinesWithBf16AndSeveralDevices() throws IOException {
    // Both work with recompute (RecomputeTest's bf16 gradients, DataParallelGraphTest's replica placement).
    TrainConfig c = load(", \"recompute\": true, \"bf16\": true, \"fp16_opt_level\": \"O2\"", "--devices", "2");
    assertEquals(Granularity.FULL, DpoTrainer.recomputeBlocks(c.training()));
    assertEquals(2, c.devices().size());
  }

  @Test
  void recomputeWithXlaIsRefused() {
    ConfigException e = assertThrows(ConfigException.class,
        () -> load(", \"recompute\": true", "--use_xla", "true"));
    assertTrue(e.getMessage().contains("use_xla") && e.getMessage().contains("turn one of them off"),
        e.getMessage());
  }
}
