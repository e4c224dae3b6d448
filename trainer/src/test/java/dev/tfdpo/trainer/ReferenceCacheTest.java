package dev.tfdpo.trainer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.tfdpo.data.ListPairSource;
import dev.tfdpo.data.PairSource;
import dev.tfdpo.data.TokenIdsJsonl;
import dev.tfdpo.data.TokenizedPair;
import dev.tfdpo.graphs.training.Batch;
import dev.tfdpo.graphs.training.DpoGraph;
import dev.tfdpo.graphs.training.ReferencePass;
import dev.tfdpo.io.hf.HfModelWriter;
import dev.tfdpo.io.hf.LlamaConfig;
import dev.tfdpo.io.safetensors.DType;
import dev.tfdpo.io.safetensors.SafeTensorsReader;
import dev.tfdpo.trainer.config.ConfigException;
import dev.tfdpo.trainer.config.ReferenceOptions;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import java.util.function.UnaryOperator;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The precomputed reference log-probs: the pass against the graph it is built from, the cache file
 * (written once, reused, refused when damaged), what its fingerprint depends on, and the checks on a
 * reference directory other than the policy's.
 */
class ReferenceCacheTest {

  @TempDir static Path tmp;
  static LlamaConfig config;
  static PairSource pairs;
  static Function<int[], Batch> collate;

  @BeforeAll
  static void setUp() throws Exception {
    config = LlamaConfig.read(Golden.TINY);
    pairs = new ListPairSource(TokenIdsJsonl.read(Golden.TOKENS).subList(0, 8));
    Collator collator = new Collator(config.eosTokenId());
    collate = positions -> {
      List<TokenizedPair> selected = new ArrayList<>();
      for (int p : positions) {
        selected.add(pairs.get(p));
      }
      return collator.padded(selected);
    };
  }

  static ReferenceLogps.Pass pass(Path cache, Path model, float ldAlpha, int batchSize) {
    return new ReferenceLogps.Pass(cache, model, config, ldAlpha, batchSize, 2);
  }

  static String fingerprint(ReferenceLogps.Pass pass) throws IOException {
    List<int[]> batches = new EpochSampler(pairs.size(), pass.batchSize(), false, 0).epoch(0);
    return java.util.HexFormat.of().formatHex(ReferenceLogps.fingerprint(pass, batches, collate));
  }

  /** A copy of tiny-llama-a with {@code edit} applied to every tensor. */
  static Path modelCopy(String name, UnaryOperator<float[]> edit) throws IOException {
    Map<String, float[]> weights = new LinkedHashMap<>();
    try (SafeTensorsReader r = SafeTensorsReader.open(Golden.TINY)) {
      for (String n : r.names()) {
        weights.put(n, edit.apply(r.readFloats(n)));
      }
    }
    Path dir = tmp.resolve(name);
    HfModelWriter.write(dir, Golden.TINY, config, weights, DType.F32, HfModelWriter.DEFAULT_MAX_SHARD_BYTES);
    return dir;
  }

  @Test
  void computedOnceThenReused() throws Exception {
    Path cache = tmp.resolve("cache");
    ByteArrayOutputStream log = new ByteArrayOutputStream();
    ReferenceLogps first = ReferenceLogps.obtain(pass(cache, Golden.TINY, 1f, 4), pairs, collate, new PrintStream(log));
    assertFalse(first.reused());
    assertTrue(log.toString().contains("reference log-probs: computing for 8 pairs in 2 batches of 4"), log.toString());
    assertTrue(Files.isRegularFile(first.file()));
    assertEquals(cache, first.file().getParent());
    assertEquals(8 + 4 + 32 + 4 + 8 * 16, Files.size(first.file()));
    String base = first.file().getFileName().toString().replace(ReferenceLogps.EXTENSION, "");
    JsonObject note = JsonParser.parseString(Files.readString(cache.resolve(base + ".json"))).getAsJsonObject();
    assertEquals(8, note.get("pairs").getAsInt());

    // The values are the pass graph's on the same batches.
    try (ReferencePass graph = new ReferencePass(config, 1f, 2);
        SafeTensorsReader weights = SafeTensorsReader.open(Golden.TINY)) {
      graph.load(weights);
      for (int[] positions : List.of(new int[] {0, 1, 2, 3}, new int[] {4, 5, 6, 7})) {
        Batch b = collate.apply(positions);
        assertArrayEquals(graph.run(b), first.forBatch(b), 0f);
      }
    }
    // Any composition: values are looked up by data row.
    Batch mixed = collate.apply(new int[] {6, 1});
    float[] m = first.forBatch(mixed);
    assertEquals(first.forBatch(collate.apply(new int[] {4, 5, 6, 7}))[2], m[0]);
    assertEquals(first.forBatch(collate.apply(new int[] {0, 1, 2, 3}))[5], m[3]);

    ByteArrayOutputStream again = new ByteArrayOutputStream();
    ReferenceLogps second = ReferenceLogps.obtain(pass(cache, Golden.TINY, 1f, 4), pairs, collate, new PrintStream(again));
    assertTrue(second.reused());
    assertEquals("reusing reference log-probs from " + first.file() + System.lineSeparator(), again.toString());
    Batch b = collate.apply(new int[] {0, 1, 2, 3});
    assertArrayEquals(first.forBatch(b), second.forBatch(b), 0f);
  }

  @Test
  void fingerprintCoversWeightsLdAlphaAndBatches() throws Exception {
    Path cache = tmp.resolve("unused");
    String base = fingerprint(pass(cache, Golden.TINY, 1f, 4));
    assertEquals(base, fingerprint(pass(cache, Golden.TINY, 1f, 4)), "deterministic");
    assertFalse(base.equals(fingerprint(pass(cache, Golden.TINY, 0.5f, 4))), "ld_alpha");
    assertFalse(base.equals(fingerprint(pass(cache, Golden.TINY, 1f, 2))), "batch composition");
    Path same = modelCopy("same", w -> w);
    assertEquals(base, fingerprint(pass(cache, same, 1f, 4)), "the same weights elsewhere");
    Path perturbed = modelCopy("perturbed-one", w -> {
      float[] c = w.clone();
      c[0] = Math.nextUp(c[0]);
      return c;
    });
    assertFalse(base.equals(fingerprint(pass(cache, perturbed, 1f, 4))), "one ulp in the weights");
  }

  @Test
  void aDamagedCacheFileIsRefusedWithWhatToDo() throws Exception {
    Path cache = tmp.resolve("damaged");
    ReferenceLogps first = ReferenceLogps.obtain(pass(cache, Golden.TINY, 1f, 8), pairs, collate,
        new PrintStream(new ByteArrayOutputStream()));
    byte[] bytes = Files.readAllBytes(first.file());
    Files.write(first.file(), java.util.Arrays.copyOf(bytes, bytes.length - 3));
    IOException e = assertThrows(IOException.class, () -> ReferenceLogps.obtain(pass(cache, Golden.TINY, 1f, 8),
        pairs, collate, new PrintStream(new ByteArrayOutputStream())));
    assertTrue(e.getMessage().contains(first.file() + ": not a complete reference log-prob cache file; delete it"),
        e.getMessage());
  }

  static ReferenceOptions options(String refPath, int syncSteps) {
    return new ReferenceOptions(false, "", refPath, false, 1, tmp.resolve("c"), syncSteps, 1.0);
  }

  static Path configCopy(String name, String key, int value) throws IOException {
    Path dir = Files.createDirectories(tmp.resolve(name));
    JsonObject c = JsonParser.parseString(Files.readString(Golden.TINY.resolve("config.json"))).getAsJsonObject();
    c.addProperty(key, value);
    Files.writeString(dir.resolve("config.json"), c.toString());
    return dir;
  }

  @Test
  void anotherReferenceMustShareTheVocabulary() throws Exception {
    Path bigger = configCopy("vocab", "vocab_size", 3000);
    ConfigException v = assertThrows(ConfigException.class,
        () -> ReferenceModel.resolve(options(bigger.toString(), 0), Golden.TINY, config));
    assertTrue(v.getMessage().contains("vocab_size 3000 differs from the policy's 2000"), v.getMessage());

    Path otherTokenizer = configCopy("tokenizer", "vocab_size", 2000);
    Files.writeString(otherTokenizer.resolve("tokenizer.json"), "{}");
    ConfigException t = assertThrows(ConfigException.class,
        () -> ReferenceModel.resolve(options(otherTokenizer.toString(), 0), Golden.TINY, config));
    assertTrue(t.getMessage().contains("tokenizer.json differs from " + Golden.TINY.resolve("tokenizer.json")),
        t.getMessage());

    // Another architecture with the same vocabulary: fine as a frozen reference, not for syncing.
    Path shallow = configCopy("shallow", "num_hidden_layers", 1);
    ReferenceModel r = ReferenceModel.resolve(options(shallow.toString(), 0), Golden.TINY, config);
    assertEquals(DpoGraph.ReferenceMode.LIVE, r.mode());
    assertEquals(shallow, r.dir());
    assertEquals(1, r.graph().model().numHiddenLayers());
    ConfigException s = assertThrows(ConfigException.class,
        () -> ReferenceModel.resolve(options(shallow.toString(), 4), Golden.TINY, config));
    assertTrue(s.getMessage().contains("other weight shapes than the policy"), s.getMessage());

    ConfigException missing = assertThrows(ConfigException.class,
        () -> ReferenceModel.resolve(options(tmp.resolve("nowhere").toString(), 0), Golden.TINY, config));
    assertTrue(missing.getMessage().contains("has no config.json"), missing.getMessage());
  }
}
