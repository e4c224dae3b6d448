package dev.tfdpo.graphs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.tfdpo.io.hf.HfModelWriter;
import dev.tfdpo.io.hf.LlamaConfig;
import dev.tfdpo.io.hf.LlamaWeights;
import dev.tfdpo.io.safetensors.DType;
import dev.tfdpo.io.safetensors.SafeTensorsWriter;
import dev.tfdpo.io.safetensors.TensorSource;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.api.Test;
import org.tensorflow.Graph;
import org.tensorflow.Session;
import org.tensorflow.op.Ops;

/**
 * Weights streamed from a session's variables ({@link WeightLoader#sources}) give the same safetensors
 * bytes as the same weights read into {@code float[]}s first (the way every file was written before), for
 * every stored type, single-file and sharded; tied and biased layers included.
 */
class StreamedWriteTest {

  static final Path ROOT = Path.of(System.getProperty("tfdpo.root", ".")).toAbsolutePath();

  @TempDir static Path dir;
  static Graph graph;
  static Session session;
  static WeightLoader loader;
  static LlamaConfig config;

  @BeforeAll
  static void build() throws IOException {
    JsonObject json = JsonParser.parseString(
        Files.readString(ROOT.resolve("test/fixtures/tiny-llama-a/config.json"))).getAsJsonObject();
    json.addProperty("tie_word_embeddings", true);
    json.addProperty("attention_bias", true);
    config = LlamaConfig.fromJson(json, "tiny-llama-a, tied, biases");
    graph = new Graph();
    Ops tf = GraphScopes.root(graph);
    Llama llama = Llama.create(tf, config, "policy");
    loader = WeightLoader.create(tf, llama);
    session = new Session(graph);
    Random random = new Random(11);
    Map<String, float[]> values = new LinkedHashMap<>();
    for (LlamaWeights.Entry e : LlamaWeights.of(config).entries()) {
      long n = 1;
      for (long d : e.shape()) {
        n *= d;
      }
      float[] v = new float[(int) n];
      for (int i = 0; i < v.length; i++) {
        v[i] = (float) random.nextGaussian(); // bf16 and f16 rounding both exercised
      }
      values.put(e.hfName(), v);
    }
    loader.assign(session, values);
  }

  @AfterAll
  static void close() {
    session.close();
    graph.close();
  }

  @ParameterizedTest
  @EnumSource(value = DType.class, names = {"F32", "BF16", "F16"})
  void oneFileEqualsTheArrayWrite(DType type) throws IOException {
    Path arrays = dir.resolve("arrays-" + type + ".safetensors");
    Path streamed = dir.resolve("streamed-" + type + ".safetensors");
    SafeTensorsWriter.write(arrays, HfModelWriter.tensors(config, loader.read(session)), type, SafeTensorsWriter.PT_METADATA);
    SafeTensorsWriter.write(streamed, loader.sources(session), type, SafeTensorsWriter.PT_METADATA);
    assertEquals(-1L, Files.mismatch(arrays, streamed));
  }

  @Test
  void shardsEqualTheArrayWrite() throws IOException {
    long limit = 150_000; // the 2000 x 64 embedding (512 KB) alone, the rest in ~150 KB shards
    List<Path> a = SafeTensorsWriter.writeModel(dir.resolve("a"), HfModelWriter.tensors(config, loader.read(session)),
        DType.F32, limit);
    List<Path> b = SafeTensorsWriter.writeModel(dir.resolve("b"), loader.sources(session), DType.F32, limit);
    assertTrue(a.size() > 3, "sharded: " + a);
    assertEquals(a.size(), b.size());
    for (int i = 0; i < a.size(); i++) {
      assertEquals(a.get(i).getFileName(), b.get(i).getFileName());
      assertEquals(-1L, Files.mismatch(a.get(i), b.get(i)), a.get(i).getFileName().toString());
    }
  }

  @Test
  void aSourceThatStreamsTooFewValuesIsRefused() {
    TensorSource shortOne = new TensorSource() {
      public String name() {
        return "x";
      }

      public long[] shape() {
        return new long[] {4};
      }

      public void stream(Chunks sink) throws IOException {
        sink.accept(new float[] {1f, 2f, 3f}, 3);
      }
    };
    IOException e = assertThrows(IOException.class, () ->
        SafeTensorsWriter.write(dir.resolve("short.safetensors"), List.of(shortOne), DType.F32, Map.of()));
    assertTrue(e.getMessage().contains("streamed 3 values"), e.getMessage());
  }
}
