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

/** The LoRA keys: defaults as PaddleNLP's, the other frameworks' spellings, and every refusal. */
class LoraOptionsTest {

  static final List<String> ALL =
      List.of("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj");

  @TempDir Path dir;

  LoraOptions load(String extra, String... overrides) throws IOException {
    Path f = dir.resolve("c.json");
    Files.writeString(f, "{\"model_name_or_path\": \"m\", \"train_dataset_path\": \"d\"" + extra + "}");
    return TrainConfig.load(f, List.of(overrides)).lora();
  }

  ConfigException refused(String extra, String... overrides) {
    return assertThrows(ConfigException.class, () -> load(extra, overrides));
  }

  @Test
  void offByDefault() throws IOException {
    assertFalse(load("").enabled());
  }

  @Test
  void paddleDefaults() throws IOException {
    LoraOptions o = load(", \"lora\": true");
    assertTrue(o.enabled());
    assertEquals(8, o.rank());
    assertEquals(16.0, o.alpha(), "lora_alpha -1: 2 * lora_rank");
    assertEquals(2f, o.scale());
    assertEquals(ALL, o.targets(), "every linear projection");
    assertEquals(1.0, o.plusScale());
    LoraOptions rs = load(", \"lora\": true, \"rslora\": true, \"lora_rank\": 16");
    assertEquals(4.0, rs.alpha(), "lora_alpha -1 with rslora: 4");
    assertEquals(1f, rs.scale(), "4 / sqrt(16)");
  }

  @Test
  void rsloraPlusIsPaddleNlps() throws IOException {
    LoraOptions o = load(", \"lora\": true, \"rslora_plus\": true");
    assertTrue(o.rslora());
    assertEquals(4.0, o.alpha());
    assertEquals(4.0, o.plusScale());
    assertTrue(refused(", \"lora\": true, \"rslora_plus\": true, \"lora_alpha\": 8").getMessage()
        .contains("rslora_plus"));
  }

  @Test
  void otherFrameworksSpellings() throws IOException {
    LoraOptions swift = load(", \"sft_type\": \"lora\", \"lora_target_modules\": [\"ALL\"], \"lora_rank\": 16");
    assertTrue(swift.enabled());
    assertEquals(ALL, swift.targets());
    LoraOptions mindspeed = load("", "--lora", "true", "--lora_r", "4",
        "--lora_target_modules", "linear_qkv,linear_proj");
    assertEquals(4, mindspeed.rank());
    assertEquals(List.of("q_proj", "k_proj", "v_proj", "o_proj"), mindspeed.targets());
    assertEquals(List.of("gate_proj", "up_proj", "down_proj"),
        load(", \"use_peft\": true, \"lora_target_modules\": [\"linear_fc2\", \"linear_fc1\"]").targets());
  }

  @Test
  void aSavedResolvedConfigLoadsAgain() throws IOException {
    Path f = dir.resolve("c.json");
    Files.writeString(f, "{\"model_name_or_path\": \"m\", \"train_dataset_path\": \"d\", \"lora\": true,"
        + " \"lora_path\": \"a\"}");
    Path saved = dir.resolve("resolved.json");
    TrainConfig.load(f, List.of()).save(saved);
    assertTrue(TrainConfig.load(saved, List.of()).lora().enabled());
  }

  @Test
  void refusals() throws IOException {
    String unknown = refused(", \"lora\": true, \"lora_target_modules\": [\"qkv_proj\"]").getMessage();
    assertTrue(unknown.contains("'qkv_proj'") && unknown.contains("down_proj") && unknown.contains("linear_fc1"),
        unknown);
    assertTrue(refused(", \"lora_rank\": 16").getMessage().contains("LoRA is off"));
    assertTrue(load(", \"lora\": true, \"sft_type\": \"full\"").enabled(), "lora: true wins (a saved config has both)");
    assertTrue(refused(", \"lora\": true, \"ref_model_name_or_path\": \"r\"").getMessage()
        .contains("ref_model_name_or_path"));
    assertTrue(refused(", \"lora\": true, \"ref_model_update_steps\": 4").getMessage().contains("lora"));
    assertTrue(refused(", \"lora\": true, \"lora_path\": \"a\", \"lora_rank\": 4").getMessage()
        .contains("adapter_config.json"));
    assertTrue(refused(", \"weight_quantize_algo\": \"nf4\"").getMessage().contains("LoRA is off"));
    assertTrue(refused(", \"lora\": true, \"weight_quantize_algo\": \"int4\"").getMessage().contains("nf4"));
    assertTrue(refused(", \"lora\": true, \"weight_quantize_algo\": \"nf4\", \"precompute_ref_log_probs\": true")
        .getMessage().contains("quantized"));
    assertEquals("nf4",
        load(", \"lora\": true, \"weight_quantize_algo\": \"nf4\"").quantize());
    refused(", \"lora\": true, \"lora_alpha\": 0");
    refused(", \"lora\": true, \"lora_plus_scale\": -1");
  }

  /** LoRA with bf16, several devices and the other trainers: what works and what is refused, and where. */
  @Test
  void combinationsWithPrecisionDevicesAndTrainers() throws IOException {
    TrainConfig o1 = TrainConfig.load(write(", \"lora\": true"), List.of("--bf16", "true"));
    assertTrue(o1.lora().enabled(), "bf16 O1: float32 adapters, their products in bfloat16");
    String o2 = refused(", \"lora\": true", "--bf16", "true", "--fp16_opt_level", "O2").getMessage();
    assertTrue(o2.contains("fp16_opt_level") && o2.contains("O1") && o2.contains("no reference copy"), o2);
    // Several devices: every replica builds the adapters (LoraDataParallelTest), also with sharded moments.
    TrainConfig two = TrainConfig.load(write(", \"lora\": true"), List.of("--devices", "2"));
    assertTrue(two.lora().enabled());
    assertEquals(2, two.devices().size());
    assertTrue(TrainConfig.load(write(", \"lora\": true"), List.of("--devices", "2", "--sharding", "stage1"))
        .lora().enabled());
    for (String trainer : List.of("kto", "cpo", "orpo", "simpo")) {
      assertTrue(load(", \"lora\": true, \"rlhf_type\": \"" + trainer + "\"").enabled(), trainer);
    }
  }

  private Path write(String extra) throws IOException {
    Path f = dir.resolve("c.json");
    Files.writeString(f, "{\"model_name_or_path\": \"m\", \"train_dataset_path\": \"d\"" + extra + "}");
    return f;
  }
}
