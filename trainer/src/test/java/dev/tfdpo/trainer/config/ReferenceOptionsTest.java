package dev.tfdpo.trainer.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The reference options: how they resolve, and every refused combination with its message. */
class ReferenceOptionsTest {

  @TempDir Path dir;

  TrainConfig load(String... overrides) throws IOException {
    Path f = dir.resolve("c.json");
    Files.writeString(f, TrainConfigTest.MINIMAL);
    return TrainConfig.load(f, List.of(overrides));
  }

  ConfigException refused(String... overrides) {
    return assertThrows(ConfigException.class, () -> load(overrides), String.join(" ", overrides));
  }

  @Test
  void defaultsAreALiveFrozenReferenceFromThePolicy() throws IOException {
    ReferenceOptions r = load().reference();
    assertFalse(r.referenceFree());
    assertFalse(r.precompute());
    assertEquals(0, r.syncSteps());
    assertEquals("", r.modelPath());
    assertEquals(1, r.precomputeBatchSize(), "per_device_train_batch_size");
    assertTrue(r.cacheDir().endsWith(ReferenceOptions.CACHE_SUBDIR), r.cacheDir().toString());
  }

  @Test
  void simpoAndOrpoForceReferenceFreeAsPaddleNlpDoes() throws IOException {
    ReferenceOptions simpo = load("--loss_type", "simpo").reference();
    assertTrue(simpo.referenceFree());
    assertEquals("simpo", simpo.forcedBy());
    ReferenceOptions orpo = load("--loss_type", "orpo,sft").reference();
    assertTrue(orpo.referenceFree());
    assertEquals("orpo", orpo.forcedBy());
    // A list with a loss that reads the reference keeps it.
    assertFalse(load("--loss_type", "simpo,sigmoid").reference().referenceFree());
  }

  @Test
  void referenceFreeForTheLossesThatAllowIt() throws IOException {
    for (String loss : List.of("sigmoid", "hinge", "ipo", "robust", "aot", "discopop", "sigmoid_norm", "sft")) {
      ReferenceOptions r = load("--reference_free", "true", "--loss_type", loss).reference();
      assertTrue(r.referenceFree(), loss);
      assertEquals("", r.forcedBy());
    }
    for (String loss : List.of("nca_pair", "bco_pair", "sppo_hard", "apo_zero", "apo_down", "aot_unpaired",
        "kto_pair", "dpop")) {
      ConfigException e = refused("--reference_free", "true", "--loss_type", loss);
      assertTrue(e.getMessage().contains("'reference_free' is true but loss_type [" + loss + "]"), e.getMessage());
      assertTrue(e.getMessage().startsWith("command line (--reference_free)"), e.getMessage());
    }
    ConfigException f = refused("--reference_free", "true", "--f_divergence_type", "js_divergence");
    assertTrue(f.getMessage().contains("'f_divergence_type' is 'js_divergence'"), f.getMessage());
  }

  @Test
  void referenceOptionsWithoutAReferenceAreRefused() {
    ConfigException a = refused("--loss_type", "simpo", "--precompute_ref_log_probs", "true");
    assertTrue(a.getMessage().contains("'precompute_ref_log_probs' is true but the run has no reference model:"
        + " loss_type simpo never reads the reference"), a.getMessage());
    ConfigException b = refused("--reference_free", "true", "--sync_ref_model", "true");
    assertTrue(b.getMessage().contains("'sync_ref_model' is true but the run has no reference model:"
        + " 'reference_free' is true"), b.getMessage());
    ConfigException c = refused("--reference_free", "true", "--ref_model_update_steps", "4");
    assertTrue(c.getMessage().contains("'ref_model_update_steps' is set but the run has no reference"), c.getMessage());
    ConfigException d = refused("--loss_type", "orpo", "--ref_model_name_or_path", "other");
    assertTrue(d.getMessage().contains("'ref_model_name_or_path' is set but the run has no reference"), d.getMessage());
  }

  @Test
  void precomputeAndSyncExcludeEachOther() {
    ConfigException a = refused("--precompute_ref_log_probs", "true", "--sync_ref_model", "true");
    assertTrue(a.getMessage().contains("'precompute_ref_log_probs' assumes a fixed reference, but 'sync_ref_model'"),
        a.getMessage());
    ConfigException b = refused("--precompute_ref_log_probs", "true", "--ref_model_update_steps", "8");
    assertTrue(b.getMessage().contains("but 'ref_model_update_steps'"), b.getMessage());
    ConfigException c = refused("--sync_ref_model", "true", "--ref_model_update_steps", "8");
    assertTrue(c.getMessage().contains("'sync_ref_model' and 'ref_model_update_steps'"), c.getMessage());
  }

  @Test
  void optionsOfAnOffSwitchAreRefusedNotIgnored() {
    assertTrue(refused("--ref_model_sync_steps", "64").getMessage()
        .contains("'ref_model_sync_steps' is only used with 'sync_ref_model': true"));
    assertTrue(refused("--ref_model_mixup_alpha", "0.9").getMessage()
        .contains("'ref_model_mixup_alpha' is only used with 'sync_ref_model': true"));
    assertTrue(refused("--ref_cache_dir", "cache/x").getMessage()
        .contains("'ref_cache_dir' is only used with 'precompute_ref_log_probs': true"));
    assertTrue(refused("--precompute_ref_batch_size", "8").getMessage()
        .contains("'precompute_ref_batch_size' is only used with 'precompute_ref_log_probs': true"));
  }

  @Test
  void outOfRangeValues() {
    assertTrue(refused("--ref_model_update_steps", "0").getMessage()
        .contains("'ref_model_update_steps' is 0; it must be -1 (never) or a positive number"));
    assertTrue(refused("--sync_ref_model", "true", "--ref_model_mixup_alpha", "0").getMessage()
        .contains("'ref_model_mixup_alpha' is 0.0; it must be in (0, 1]"));
    assertTrue(refused("--sync_ref_model", "true", "--ref_model_sync_steps", "0").getMessage()
        .contains("'ref_model_sync_steps' is 0"));
    assertTrue(refused("--precompute_ref_log_probs", "true", "--precompute_ref_batch_size", "-2").getMessage()
        .contains("'precompute_ref_batch_size' is -2"));
  }

  @Test
  void syncSettings() throws IOException {
    ReferenceOptions paddle = load("--ref_model_update_steps", "4").reference();
    assertEquals(4, paddle.syncSteps());
    assertEquals(1.0, paddle.syncAlpha());
    ReferenceOptions trl = load("--sync_ref_model", "true").reference();
    assertEquals(ReferenceOptions.DEFAULT_SYNC_STEPS, trl.syncSteps());
    assertEquals(ReferenceOptions.DEFAULT_MIXUP_ALPHA, trl.syncAlpha());
    ReferenceOptions tuned =
        load("--sync_ref_model", "true", "--ref_model_sync_steps", "3", "--ref_model_mixup_alpha", "0.5").reference();
    assertEquals(3, tuned.syncSteps());
    assertEquals(0.5, tuned.syncAlpha());
  }

  @Test
  void precomputeSettings() throws IOException {
    ReferenceOptions r = load("--precompute_ref_log_probs", "true", "--per_device_train_batch_size", "4",
        "--ref_cache_dir", dir.resolve("cache").toString()).reference();
    assertTrue(r.precompute());
    assertEquals(4, r.precomputeBatchSize());
    assertEquals(dir.resolve("cache"), r.cacheDir());
    assertEquals(16, load("--precompute_ref_log_probs", "true", "--precompute_ref_batch_size", "16").reference()
        .precomputeBatchSize());
  }

  @Test
  void aSavedConfigWithReferenceOptionsLoadsBack() throws IOException {
    TrainConfig c = load("--precompute_ref_log_probs", "true", "--ref_cache_dir", "cache/refs",
        "--ref_model_name_or_path", "ref");
    Path saved = dir.resolve("resolved.json");
    c.save(saved);
    assertEquals(c, TrainConfig.load(saved, List.of()));
  }
}
