package dev.tfdpo.trainer.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.tfdpo.ops.Precision;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Parsing, defaults, overrides and the messages of every kind of config error. */
class TrainConfigTest {

  static final Path ROOT = Path.of(System.getProperty("tfdpo.root", "..")).toAbsolutePath().normalize();

  @TempDir Path dir;

  Path write(String json) throws IOException {
    Path f = dir.resolve("c.json");
    Files.writeString(f, json);
    return f;
  }

  static final String MINIMAL = "{\n  \"model_name_or_path\": \"m\",\n  \"train_dataset_path\": \"d.jsonl\"\n}";

  @Test
  void defaultsFillEverythingNotGiven() throws IOException {
    TrainConfig c = TrainConfig.load(write(MINIMAL), List.of());
    assertEquals(0.1, c.dpo().beta());
    assertEquals(List.of("sigmoid"), c.dpo().lossType());
    assertEquals(1024, c.data().maxSeqLen());
    assertEquals("random", c.data().trainSamplingStrategy());
    assertEquals(1.0, c.training().maxGradNorm());
    assertEquals(-1, c.training().maxSteps());
    JsonObject saved = c.toJson();
    for (ConfigKey k : ConfigKey.values()) {
      assertTrue(saved.has(k.jsonName()), "resolved config lists " + k.jsonName());
    }
  }

  @Test
  void commandLineOverridesTheFile() throws IOException {
    TrainConfig c = TrainConfig.load(
        write("{\"model_name_or_path\": \"m\", \"train_dataset_path\": \"d\", \"beta\": 0.5}"),
        List.of("--beta", "0.25", "--max_steps", "7", "--bf16", "false", "--loss_type", "sigmoid"));
    assertEquals(0.25, c.dpo().beta());
    assertEquals(7, c.training().maxSteps());
  }

  @Test
  void trlMaxLengthIsAnAliasOfMaxSeqLen() throws IOException {
    TrainConfig c = TrainConfig.load(
        write("{\"model_name_or_path\": \"m\", \"train_dataset_path\": \"d\", \"max_length\": 256}"), List.of());
    assertEquals(256, c.data().maxSeqLen());
    assertEquals(128, TrainConfig.load(write(MINIMAL), List.of("--max_length", "128")).data().maxSeqLen());
  }

  @Test
  void unknownKeyNamesFileLineAndClosestKey() throws IOException {
    Path f = write("{\n  \"model_name_or_path\": \"m\",\n  \"train_dataset_path\": \"d\",\n  \"learnig_rate\": 1e-5\n}");
    ConfigException e = assertThrows(ConfigException.class, () -> TrainConfig.load(f, List.of()));
    assertTrue(e.getMessage().contains(f + ":4"), e.getMessage());
    assertTrue(e.getMessage().contains("'learnig_rate'"), e.getMessage());
    assertTrue(e.getMessage().contains("did you mean 'learning_rate'"), e.getMessage());
  }

  @Test
  void errorsPointAtTheKeyNotAtTheSameWordInAValue() throws IOException {
    // "beta" appears first inside a string value (line 3), then as a key (line 5).
    Path f = write("{\n  \"model_name_or_path\": \"m\",\n  \"output_dir\": \"runs/\\\"beta\\\"\",\n"
        + "  \"train_dataset_path\": \"beta\",\n  \"beta\": -1\n}");
    ConfigException e = assertThrows(ConfigException.class, () -> TrainConfig.load(f, List.of()));
    assertTrue(e.getMessage().contains(f + ":5"), e.getMessage());
    assertEquals(1, TrainConfig.lineOf("{\"a\": {\"beta\": 1}}", "beta"), "nested members are not top-level keys");
  }

  @Test
  void unknownOverrideIsAnError() throws IOException {
    Path f = write(MINIMAL);
    ConfigException e = assertThrows(ConfigException.class, () -> TrainConfig.load(f, List.of("--bata", "1")));
    assertTrue(e.getMessage().contains("command line") && e.getMessage().contains("'beta'"), e.getMessage());
  }

  @Test
  void wrongTypeNamesKeyAndValue() throws IOException {
    Path f = write("{\"model_name_or_path\": \"m\", \"train_dataset_path\": \"d\",\n \"per_device_train_batch_size\": \"four\"}");
    ConfigException e = assertThrows(ConfigException.class, () -> TrainConfig.load(f, List.of()));
    assertTrue(e.getMessage().contains(f + ":2"), e.getMessage());
    assertTrue(e.getMessage().contains("'per_device_train_batch_size' must be an integer, got \"four\""), e.getMessage());
    ConfigException e2 = assertThrows(ConfigException.class,
        () -> TrainConfig.load(write(MINIMAL), List.of("--learning_rate", "fast")));
    assertTrue(e2.getMessage().contains("'learning_rate' must be a finite number, got 'fast'"), e2.getMessage());
  }

  @Test
  void bf16LevelsSetTheGraphPrecisions() throws IOException {
    Path f = write(MINIMAL);
    TrainConfig f32 = TrainConfig.load(f, List.of());
    assertEquals(Precision.FLOAT32, f32.computePrecision());
    assertEquals(Precision.FLOAT32, f32.referenceStorage());
    TrainConfig o1 = TrainConfig.load(f, List.of("--bf16", "true"));
    assertEquals("O1", o1.training().fp16OptLevel(), "PaddleNLP's default level");
    assertEquals(Precision.BFLOAT16, o1.computePrecision());
    assertEquals(Precision.FLOAT32, o1.referenceStorage());
    TrainConfig o2 = TrainConfig.load(f, List.of("--bf16", "true", "--fp16_opt_level", "O2"));
    assertEquals(Precision.BFLOAT16, o2.computePrecision());
    assertEquals(Precision.BFLOAT16, o2.referenceStorage());
  }

  @Test
  void outOfRangeNamesKeyValueAndBound() throws IOException {
    Path f = write(MINIMAL);
    record Case(List<String> args, String expected) {}
    for (Case c : List.of(
        new Case(List.of("--beta", "0"), "'beta' is 0.0; it must be a positive number"),
        new Case(List.of("--label_smoothing", "0.5"), "'label_smoothing' is 0.5; it must be in [0, 0.5)"),
        new Case(List.of("--label_smoothing", "0.7", "--loss_type", "sigmoid"), "'label_smoothing' is 0.7"),
        new Case(List.of("--lr_scheduler_type", "cosin"), "one of [constant, constant_with_warmup, cosine, linear]"),
        new Case(List.of("--train_sampling_strategy", "shuffle"), "'train_sampling_strategy' is 'shuffle'"),
        new Case(List.of("--gradient_accumulation_steps", "0"), "'gradient_accumulation_steps' is 0"),
        new Case(List.of("--warmup_steps", "2.5"), "'warmup_steps' is 2.5"),
        new Case(List.of("--max_steps", "0"), "'max_steps' is 0"),
        new Case(List.of("--loss_type", "dpo"), "unknown loss_type 'dpo'"),
        new Case(List.of("--loss_type", "exo_pair"), "exo_pair"),
        new Case(List.of("--loss_type", "sigmoid,sft", "--loss_weights", "1"), "loss_weights"),
        new Case(List.of("--fp16_opt_level", "O2"), "'bf16' is false, so it would have no effect"),
        new Case(List.of("--bf16", "true", "--fp16_opt_level", "O3"), "'fp16_opt_level' is 'O3'"),
        new Case(List.of("--bf16", "true", "--fp16_opt_level", "O2", "--precompute_ref_log_probs", "true"),
            "nothing to store in bfloat16"),
        new Case(List.of("--bf16", "true", "--fp16_opt_level", "O2", "--reference_free", "true"),
            "the run is reference-free"),
        new Case(List.of("--report_to", "wandb"), "'report_to' is 'wandb'"))) {
      ConfigException e = assertThrows(ConfigException.class, () -> TrainConfig.load(f, c.args()), c.toString());
      assertTrue(e.getMessage().contains(c.expected()), e.getMessage());
      assertTrue(e.getMessage().startsWith("command line"), e.getMessage());
    }
  }

  @Test
  void lossListsFromFileAndCommandLine() throws IOException {
    TrainConfig c = TrainConfig.load(write(
        "{\"model_name_or_path\": \"m\", \"train_dataset_path\": \"d\", \"loss_type\": [\"sigmoid\", \"bco_pair\", \"sft\"], \"loss_weights\": [0.8, 0.2, 1.0]}"),
        List.of());
    assertEquals(3, c.lossSpec().components().size());
    assertEquals(0.2f, c.lossSpec().components().get(1).weight());
    TrainConfig d = TrainConfig.load(write(MINIMAL), List.of("--loss_type", "simpo", "--simpo_gamma", "1.0"));
    assertTrue(d.lossSpec().referenceFree());
    TrainConfig e = TrainConfig.load(write(MINIMAL), List.of("--loss_type", "sigmoid,sft", "--loss_weights", "1,0.5"));
    assertEquals(0.5f, e.lossSpec().components().get(1).weight());
  }

  @Test
  void missingRequiredKeySaysHowToSetIt() throws IOException {
    ConfigException e = assertThrows(ConfigException.class,
        () -> TrainConfig.load(write("{\"model_name_or_path\": \"m\"}"), List.of()));
    assertTrue(e.getMessage().contains("missing required key 'train_dataset_path'"), e.getMessage());
    assertTrue(e.getMessage().contains("--train_dataset_path"), e.getMessage());
  }

  @Test
  void invalidJsonIsReportedWithTheFile() throws IOException {
    Path f = write("{\"beta\": 0.1,,}");
    ConfigException e = assertThrows(ConfigException.class, () -> TrainConfig.load(f, List.of()));
    assertTrue(e.getMessage().startsWith(f + ": invalid JSON"), e.getMessage());
  }

  @Test
  void savedConfigLoadsBackToTheSameValues() throws IOException {
    TrainConfig c = TrainConfig.load(write(MINIMAL), List.of("--beta", "0.3"));
    Path saved = dir.resolve("resolved.json");
    c.save(saved);
    assertEquals(c, TrainConfig.load(saved, List.of()));
  }

  @Test
  void everyShippedConfigLoadsAndValidates() throws IOException {
    List<Path> configs;
    try (Stream<Path> s = Files.walk(ROOT.resolve("configs"))) {
      // configs/bench/NAME/config.json is a benchmark model's architecture, not a training config.
      configs = s.filter(p -> p.toString().endsWith(".json") && !p.getFileName().toString().equals("config.json"))
          .toList();
    }
    assertFalse(configs.isEmpty());
    for (Path p : configs) {
      TrainConfig c = TrainConfig.load(p, List.of());
      Path model = ROOT.resolve(c.model().modelNameOrPath());
      if (model.startsWith(ROOT.resolve("output/bench-models"))) {
        // scripts/bench.sh generates random weights there from configs/bench/NAME/config.json or, where
        // there is none, from the fixture of that name.
        Path shape = p.resolveSibling(p.getFileName().toString().replace(".json", ""));
        model = Files.isDirectory(shape) ? shape : ROOT.resolve("test/fixtures").resolve(model.getFileName());
      }
      assertTrue(Files.exists(model.resolve("config.json")), p + ": model " + model + " exists");
      assertTrue(Files.exists(ROOT.resolve(c.data().trainDatasetPath())), p + ": data path exists");
      JsonParser.parseString(Files.readString(p));
    }
  }
}
