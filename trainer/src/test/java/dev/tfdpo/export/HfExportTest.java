package dev.tfdpo.export;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.tfdpo.io.hf.HfExport;
import dev.tfdpo.io.hf.LlamaConfig;
import dev.tfdpo.trainer.config.ConfigException;
import dev.tfdpo.io.safetensors.DType;
import dev.tfdpo.io.safetensors.FloatFormats;
import dev.tfdpo.io.safetensors.SafeTensorsReader;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The Hugging Face export read back: weights and logits identical for float32, equal to those of the
 * bfloat16-rounded weights for bfloat16, sharding with an index, config and generation files.
 */
class HfExportTest {

  /** Two rows of the golden token ids, the second shorter (right padding). */
  static final int[][] ROWS = {
      {1, 391, 15, 908, 1402, 77, 5, 1999, 0, 630, 2, 44},
      {1, 12, 1500, 3, 87, 2}};
  static final int LENGTH = 12;

  static LlamaConfig config;
  static ExportFixtures.LogitsGraph graph;
  static float[] trainedLogits;

  @BeforeAll
  static void build() throws IOException {
    config = LlamaConfig.read(ExportFixtures.TINY);
    graph = new ExportFixtures.LogitsGraph(config);
    graph.load(ExportFixtures.TRAINED);
    trainedLogits = graph.logits(ROWS, LENGTH);
  }

  @AfterAll
  static void close() {
    graph.close();
  }

  @Test
  void float32ExportReadsBackToIdenticalLogits(@TempDir Path tmp) throws IOException {
    Path state = ExportFixtures.stateDir(tmp.resolve("checkpoint-16"), ExportFixtures.TRAINED, 0.1);
    Path out = Files.createDirectories(tmp.resolve("hf"));
    List<Path> written = ModelStateDir.resolve(state).exportHf(out, HfExport.Options.DEFAULT);

    assertEquals(List.of(out.resolve("model.safetensors")), written);
    assertEquals(ExportFixtures.readAll(ExportFixtures.TRAINED).keySet(), ExportFixtures.readAll(out).keySet());
    Map<String, float[]> expected = ExportFixtures.readAll(ExportFixtures.TRAINED);
    ExportFixtures.readAll(out).forEach((name, values) -> assertArrayEquals(expected.get(name), values, name));
    try (SafeTensorsReader reader = SafeTensorsReader.open(out)) {
      assertEquals(DType.F32, reader.info("model.norm.weight").dtype());
    }
    graph.load(out);
    assertArrayEquals(trainedLogits, graph.logits(ROWS, LENGTH), "logits bitwise");

    for (String name : List.of("config.json", "generation_config.json", "tokenizer.json", "tokenizer.model",
        "tokenizer_config.json")) {
      assertArrayEquals(Files.readAllBytes(ExportFixtures.TINY.resolve(name)), Files.readAllBytes(out.resolve(name)),
          name + " is copied unchanged (the tiny model's config already says float32)");
    }
  }

  @Test
  void bfloat16ExportEqualsTheRoundedWeights(@TempDir Path tmp) throws IOException {
    Path state = ExportFixtures.stateDir(tmp.resolve("state"), ExportFixtures.TRAINED, 0.1);
    Path out = Files.createDirectories(tmp.resolve("hf"));
    ModelStateDir.resolve(state).exportHf(out,
        new HfExport.Options(DType.BF16, HfExport.Options.DEFAULT.maxShardBytes()));

    Map<String, float[]> rounded = new LinkedHashMap<>();
    ExportFixtures.readAll(ExportFixtures.TRAINED).forEach((name, values) -> {
      float[] r = new float[values.length];
      for (int i = 0; i < r.length; i++) {
        r[i] = FloatFormats.roundToBFloat16(values[i]);
      }
      rounded.put(name, r);
    });
    try (SafeTensorsReader reader = SafeTensorsReader.open(out)) {
      assertEquals(DType.BF16, reader.info("model.embed_tokens.weight").dtype());
      assertEquals(Files.size(ExportFixtures.TRAINED.resolve("model.safetensors")) / 2,
          Files.size(out.resolve("model.safetensors")), 4096, "half the bytes, give or take the header");
    }
    graph.assign(rounded);
    float[] expected = graph.logits(ROWS, LENGTH);
    graph.load(out);
    float[] actual = graph.logits(ROWS, LENGTH);
    assertArrayEquals(expected, actual, "logits of the bf16 file = logits of the bf16-rounded weights, bitwise");
    double maxDiff = 0;
    double maxLogit = 0;
    for (int i = 0; i < actual.length; i++) {
      maxDiff = Math.max(maxDiff, Math.abs(actual[i] - trainedLogits[i]));
      maxLogit = Math.max(maxLogit, Math.abs(trainedLogits[i]));
    }
    System.out.printf("bf16 export: max |logit - float32 logit| = %.3g (max |logit| %.3g)%n", maxDiff, maxLogit);
    assertTrue(maxDiff > 0 && maxDiff < 0.05 * maxLogit, "rounding moves the logits a little: " + maxDiff);

    JsonObject exportedConfig = json(out.resolve("config.json"));
    assertEquals("bfloat16", exportedConfig.get("dtype").getAsString());
    JsonObject source = json(ExportFixtures.TINY.resolve("config.json"));
    source.addProperty("dtype", "bfloat16");
    assertEquals(source, exportedConfig, "only dtype changes");
  }

  @Test
  void smallShardLimitWritesAnIndexAndShards(@TempDir Path tmp) throws IOException {
    Path state = ExportFixtures.stateDir(tmp.resolve("state"), ExportFixtures.TRAINED, 0.1);
    Path out = Files.createDirectories(tmp.resolve("hf"));
    List<Path> written = ModelStateDir.resolve(state).exportHf(out,
        new HfExport.Options(DType.F32, ShardSize.parse("300KB")));

    assertTrue(written.size() >= 4, "several shards and the index: " + written);
    assertEquals(out.resolve("model.safetensors.index.json"), written.get(written.size() - 1));
    assertFalse(Files.exists(out.resolve("model.safetensors")));
    try (Stream<Path> files = Files.list(out)) {
      long shards = files.filter(p -> p.getFileName().toString().matches("model-\\d{5}-of-\\d{5}\\.safetensors")).count();
      assertEquals(written.size() - 1, shards);
    }
    for (Path shard : written.subList(0, written.size() - 1)) {
      long bytes = Files.size(shard);
      assertTrue(bytes <= 300_000 + 4096 || bytes > 500_000, shard + ": within the limit unless one tensor is larger");
    }
    JsonObject index = json(out.resolve("model.safetensors.index.json"));
    assertEquals(LlamaWeightsCount.of(config), index.getAsJsonObject("weight_map").size());
    graph.load(out);
    assertArrayEquals(trainedLogits, graph.logits(ROWS, LENGTH), "sharded export reads back bitwise");
  }

  @Test
  void generationConfigComesFromTheBaseModelElseIsDerived(@TempDir Path tmp) throws IOException {
    Path state = ExportFixtures.stateDir(tmp.resolve("state"), ExportFixtures.TRAINED, 0.1);
    Files.delete(state.resolve("generation_config.json"));
    Path fromBase = Files.createDirectories(tmp.resolve("from-base"));
    ModelStateDir.resolve(state).exportHf(fromBase, HfExport.Options.DEFAULT);
    assertArrayEquals(Files.readAllBytes(ExportFixtures.TINY.resolve("generation_config.json")),
        Files.readAllBytes(fromBase.resolve("generation_config.json")), "the run's base model has one");

    Path out = Files.createDirectories(tmp.resolve("hf"));
    HfExport.write(out, config, ExportFixtures.readAll(ExportFixtures.TRAINED), state, Optional.empty(),
        HfExport.Options.DEFAULT);
    assertEquals(String.join("\n",
            "{",
            "  \"_from_model_config\": true,",
            "  \"bos_token_id\": 1,",
            "  \"eos_token_id\": 2,",
            "  \"transformers_version\": \"5.17.0\"",
            "}",
            ""),
        Files.readString(out.resolve("generation_config.json")));
  }

  @Test
  void missingTokenizerFilesComeFromTheBaseModel(@TempDir Path tmp) throws IOException {
    Path state = ExportFixtures.stateDir(tmp.resolve("state"), ExportFixtures.TRAINED, 0.1);
    for (String name : ExportFixtures.TOKENIZER_FILES) {
      Files.delete(state.resolve(name));
    }
    Path out = Files.createDirectories(tmp.resolve("hf"));
    ModelStateDir.resolve(state).exportHf(out, HfExport.Options.DEFAULT);
    for (String name : ExportFixtures.TOKENIZER_FILES) {
      assertArrayEquals(Files.readAllBytes(ExportFixtures.TINY.resolve(name)), Files.readAllBytes(out.resolve(name)));
    }
  }

  @Test
  void olderTorchDtypeKeyIsUpdatedToo(@TempDir Path tmp) throws IOException {
    Path src = Files.createDirectories(tmp.resolve("src"));
    JsonObject old = json(ExportFixtures.TINY.resolve("config.json"));
    old.remove("dtype");
    old.addProperty("torch_dtype", "float16");
    Files.writeString(src.resolve("config.json"), old.toString());
    Path out = Files.createDirectories(tmp.resolve("hf"));
    HfExport.write(out, config, ExportFixtures.readAll(ExportFixtures.TRAINED), src, Optional.empty(),
        HfExport.Options.DEFAULT);
    JsonObject written = json(out.resolve("config.json"));
    assertEquals("float32", written.get("torch_dtype").getAsString());
    assertEquals("float32", written.get("dtype").getAsString());
  }

  @Test
  void outputDirWithCheckpointsExportsTheNewestIntactOne(@TempDir Path tmp) throws IOException {
    Path run = tmp.resolve("run");
    ExportFixtures.checkpoint(run, 2, ExportFixtures.MID2, 0.1);
    Path newest = ExportFixtures.checkpoint(run, 16, ExportFixtures.TRAINED, 0.1);
    assertEquals(newest, ModelStateDir.resolve(run).directory());

    Files.write(newest.resolve("model.safetensors"), new byte[] {1, 2, 3}, java.nio.file.StandardOpenOption.APPEND);
    ModelStateDir fallback = ModelStateDir.resolve(run);
    assertEquals(run.resolve("checkpoint-2"), fallback.directory());
    assertTrue(fallback.origin().contains("newest checkpoint that verifies"), fallback.origin());
    // A source the user names wrongly is a user error (exit 2), not an I/O failure.
    ConfigException corrupt = assertThrows(ConfigException.class, () -> ModelStateDir.resolve(newest));
    assertTrue(corrupt.getMessage().contains("fails verification"), corrupt.getMessage());

    ExportFixtures.stateDir(run, ExportFixtures.TRAINED, 0.1);
    assertEquals(run.toAbsolutePath(), ModelStateDir.resolve(run).directory(), "a final model in the root wins");
  }

  @Test
  void aDirectoryWithoutAModelIsRefused(@TempDir Path tmp) {
    ConfigException e = assertThrows(ConfigException.class, () -> ModelStateDir.resolve(tmp));
    assertTrue(e.getMessage().contains("no model.safetensors"), e.getMessage());
  }

  private static JsonObject json(Path file) throws IOException {
    return JsonParser.parseString(Files.readString(file)).getAsJsonObject();
  }

  /** Tensor count of the architecture. */
  private static final class LlamaWeightsCount {
    static int of(LlamaConfig c) {
      return dev.tfdpo.io.hf.LlamaWeights.of(c).entries().size();
    }
  }
}
