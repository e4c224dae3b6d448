package dev.tfdpo.trainer.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The evaluation keys: defaults, Hugging Face's alias, and every refused combination with its message. */
class EvaluationConfigTest {

  @TempDir Path dir;

  Path write(String json) throws IOException {
    Path f = dir.resolve("c.json");
    Files.writeString(f, json);
    return f;
  }

  static final String BASE = "\"model_name_or_path\": \"m\", \"train_dataset_path\": \"d.jsonl\"";

  TrainConfig load(String extraJson, String... overrides) throws IOException {
    return TrainConfig.load(write("{" + BASE + (extraJson.isEmpty() ? "" : ", " + extraJson) + "}"),
        List.of(overrides));
  }

  ConfigException refused(String extraJson, String... overrides) {
    return assertThrows(ConfigException.class, () -> load(extraJson, overrides));
  }

  @Test
  void defaultsAreNoEvaluation() throws IOException {
    TrainConfig c = load("");
    assertEquals("no", c.training().evaluationStrategy());
    assertEquals(0.0, c.training().evalSteps());
    assertEquals(8, c.training().perDeviceEvalBatchSize());
    assertEquals("", c.data().devDatasetPath());
  }

  @Test
  void huggingFaceEvalStrategyIsAnAlias() throws IOException {
    TrainConfig c = load("\"eval_strategy\": \"steps\", \"dev_dataset_path\": \"dev.jsonl\", \"eval_steps\": 50");
    assertEquals("steps", c.training().evaluationStrategy());
    assertEquals(50.0, c.training().evalSteps());
    assertEquals("epoch", load("\"dev_dataset_path\": \"dev.jsonl\"", "--eval_strategy", "epoch")
        .training().evaluationStrategy());
    // The resolved config uses the primary name and loads back.
    assertTrue(c.toJson().has("evaluation_strategy"));
    Path saved = dir.resolve("resolved.json");
    c.save(saved);
    assertEquals(c, TrainConfig.load(saved, List.of()));
  }

  @Test
  void aKeyAndItsAliasInOneFileAreRefused() {
    ConfigException e = refused(
        "\"evaluation_strategy\": \"steps\", \"eval_strategy\": \"epoch\", \"dev_dataset_path\": \"dev.jsonl\"");
    assertTrue(e.getMessage().contains("'eval_strategy' and 'evaluation_strategy' set the same key"), e.getMessage());
  }

  @Test
  void evaluatingWithoutDevSetNamesBothKeys() {
    ConfigException e = refused("\"evaluation_strategy\": \"steps\"");
    assertTrue(e.getMessage().contains("c.json:1"), e.getMessage());
    assertTrue(e.getMessage().contains("'evaluation_strategy' is 'steps'"), e.getMessage());
    assertTrue(e.getMessage().contains("dev_dataset_path"), e.getMessage());
    ConfigException epoch = refused("", "--eval_strategy", "epoch");
    assertTrue(epoch.getMessage().startsWith("command line (--eval_strategy)"), epoch.getMessage());
  }

  @Test
  void devSetWithoutStrategyIsRefused() {
    ConfigException e = refused("\"dev_dataset_path\": \"dev.jsonl\"");
    assertTrue(e.getMessage().contains("'dev_dataset_path' is set but 'evaluation_strategy' is 'no'"), e.getMessage());
  }

  @Test
  void badValuesNameTheKey() {
    assertTrue(refused("\"evaluation_strategy\": \"step\", \"dev_dataset_path\": \"d\"").getMessage()
        .contains("'evaluation_strategy' is 'step'; it must be one of [epoch, no, steps]"));
    assertTrue(refused("\"evaluation_strategy\": \"steps\", \"dev_dataset_path\": \"d\", \"eval_steps\": -1")
        .getMessage().contains("'eval_steps' is -1.0"));
    assertTrue(refused("\"evaluation_strategy\": \"steps\", \"dev_dataset_path\": \"d\", \"eval_steps\": 2.5")
        .getMessage().contains("'eval_steps' is 2.5"));
    assertTrue(refused("\"evaluation_strategy\": \"steps\", \"dev_dataset_path\": \"d\"",
        "--per_device_eval_batch_size", "0").getMessage().contains("'per_device_eval_batch_size' is 0"));
    ConfigException e = refused("\"evaluation_strategy\": \"epoch\", \"dev_dataset_path\": \"d\", \"eval_steps\": 10");
    assertTrue(e.getMessage().contains("eval_steps only applies to evaluation_strategy 'steps'"), e.getMessage());
  }

  @Test
  void fractionOfTotalStepsIsAccepted() throws IOException {
    assertEquals(0.25, load("\"eval_strategy\": \"steps\", \"dev_dataset_path\": \"d\", \"eval_steps\": 0.25")
        .training().evalSteps());
  }
}
