package dev.tfdpo.bench;

import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tfdpo.trainer.config.ConfigException;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Variant specs and their up-front validation (the benchmark itself is not part of the suite). */
class BenchMainTest {

  private static final Path CONFIG =
      Path.of(System.getProperty("user.dir")).getParent().resolve(BenchMain.DEFAULT_CONFIG);

  @Test
  void variantSpecSplitsOverridesAndEnvironment() {
    BenchMain.Variant v = BenchMain.Variant.parse(
        "mine: --packing true --max_seq_len 512 TF_ENABLE_ONEDNN_OPTS=1");
    assertEquals("mine", v.name());
    assertEquals(List.of("--packing", "true", "--max_seq_len", "512"), v.overrides());
    assertEquals(Map.of("TF_ENABLE_ONEDNN_OPTS", "1"), v.env());
    // A value containing '=' after a key stays the key's value.
    BenchMain.Variant w = BenchMain.Variant.parse("x: --output_dir a=b");
    assertEquals(List.of("--output_dir", "a=b"), w.overrides());
    assertTrue(w.env().isEmpty());
    assertThrows(ConfigException.class, () -> BenchMain.Variant.parse("--packing true"));
  }

  @Test
  void everyDefaultVariantLoadsAndABadOneStopsBeforeAnyRun() {
    assertDoesNotThrow(() -> BenchMain.checkVariants(CONFIG, List.of(), BenchMain.DEFAULT_VARIANTS));
    List<BenchMain.Variant> bad = List.of(BenchMain.DEFAULT_VARIANTS.get(0),
        BenchMain.Variant.parse("typo: --pakcing true"));
    ConfigException e = assertThrows(ConfigException.class, () -> BenchMain.checkVariants(CONFIG, List.of(), bad));
    assertTrue(e.getMessage().startsWith("--variant \"typo\": "), e.getMessage());
    assertTrue(e.getMessage().contains("pakcing"), e.getMessage());
  }

  @Test
  void realSizeConfigsUseTheirOwnArchitectureAndTakeEveryDefaultVariant() {
    Path fallback = Path.of("fallback");
    for (String name : List.of("smollm2-135m", "qwen25-05b")) {
      Path config = CONFIG.resolveSibling(name + ".json");
      assertEquals(CONFIG.resolveSibling(name), BenchModel.fixtureFor(config, fallback), name);
      assertDoesNotThrow(() -> BenchMain.checkVariants(config, List.of(), BenchMain.DEFAULT_VARIANTS), name);
    }
    assertEquals(fallback, BenchModel.fixtureFor(CONFIG, fallback), "perf-256 has no architecture folder");
  }
}
