package dev.tfdpo.graphs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tfdpo.io.hf.LlamaConfig;
import dev.tfdpo.io.hf.LlamaWeights;
import dev.tfdpo.io.safetensors.DType;
import dev.tfdpo.io.safetensors.NamedTensor;
import dev.tfdpo.io.safetensors.SafeTensorsReader;
import dev.tfdpo.io.safetensors.SafeTensorsWriter;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.tensorflow.Graph;
import org.tensorflow.Session;
import org.tensorflow.op.Ops;

/**
 * Weight loading never holds a whole-model copy on the Java heap: a 56 MB model (in three shards) loads
 * into its graph in a JVM whose heap is 40 MB (one tensor per session run), and the loaded values equal
 * the file's. The same JVM
 * fails to read the model into {@code float[]}s, so the heap really is smaller than the model. Writing
 * goes the same way: the loaded variables stream back into files equal to the originals.
 */
class SmallHeapLoadTest {

  /** Model float32 bytes: embed + lm_head 2 x 16000 x 256, 8 layers of ~3.1 MB. */
  static final String CONFIG = """
      {"model_type": "llama", "vocab_size": 16000, "hidden_size": 256, "intermediate_size": 688,
       "num_hidden_layers": 8, "num_attention_heads": 8, "num_key_value_heads": 4,
       "rms_norm_eps": 1e-5, "tie_word_embeddings": false}
      """;

  static final String SMALL_HEAP = "-Xmx40m";

  /**
   * JavaCPP caps the process's resident memory at 4x the heap by default (maxBytes + 3 x -Xmx), which
   * TensorFlow's native libraries alone exceed at a 40 MB heap; the test is about the heap, so the cap is
   * off, as the scripts turn it off (lib.sh, tfdpo_train_heap).
   */
  static final String NO_RSS_CAP = "-Dorg.bytedeco.javacpp.maxPhysicalBytes=0";

  @TempDir static Path dir;
  static long modelBytes;

  @BeforeAll
  static void writeModel() throws IOException {
    Files.writeString(dir.resolve("config.json"), CONFIG, StandardCharsets.UTF_8);
    LlamaConfig config = LlamaConfig.read(dir);
    List<NamedTensor> tensors = new ArrayList<>();
    for (LlamaWeights.Entry e : LlamaWeights.of(config).entries()) {
      float[] data = new float[Math.toIntExact(count(e.shape()))];
      for (int i = 0; i < data.length; i++) {
        data[i] = value(e.hfName(), i);
      }
      tensors.add(new NamedTensor(e.hfName(), e.shape(), data));
      modelBytes += 4L * data.length;
    }
    SafeTensorsWriter.writeModel(dir, tensors, DType.F32, 30_000_000L); // three shards
  }

  @Test
  void loadsAModelLargerThanTheHeap() throws Exception {
    assertTrue(modelBytes > 50_000_000L, "model bytes " + modelBytes);
    assertTrue(Files.isRegularFile(dir.resolve(SafeTensorsReader.INDEX_FILE)), "sharded");
    Result r = child("load");
    assertEquals(0, r.exit, r.output);
    assertTrue(r.output.contains("checked " + LlamaWeights.of(LlamaConfig.read(dir)).entries().size()), r.output);
  }

  @Test
  void writesTheLoadedModelBackStreamedAndByteIdentical() throws Exception {
    // The child loads the model, then writes its variables as SafeTensorsWriter sources (fetched and
    // copied tensor by tensor) with the same shard limit: the files equal those written above from
    // float[]s, byte for byte, and the 40 MB heap never held the model.
    Path out = dir.resolve("written");
    Result r = child("load-write", out.toString());
    assertEquals(0, r.exit, r.output);
    List<Path> originals;
    try (var files = Files.list(dir)) {
      originals = files.filter(f -> f.getFileName().toString().startsWith("model")).sorted().toList();
    }
    assertTrue(originals.size() >= 3 && originals.contains(dir.resolve(SafeTensorsReader.INDEX_FILE)),
        "shards and the index: " + originals);
    for (Path original : originals) {
      assertEquals(-1L, Files.mismatch(original, out.resolve(original.getFileName())), original.getFileName().toString());
    }
  }

  @Test
  void theHeapCannotHoldTheModel() throws Exception {
    Result r = child("heap-copy");
    assertTrue(r.output.contains("OutOfMemoryError"), r.output);
  }

  /** A value that depends on the tensor and the position, so misplaced chunks are caught. */
  static float value(String name, long i) {
    return (float) ((name.hashCode() % 97) * 1e-3 + (i % 1013) * 1e-6);
  }

  private static long count(long[] shape) {
    long n = 1;
    for (long d : shape) {
      n *= d;
    }
    return n;
  }

  record Result(int exit, String output) {}

  private static Result child(String mode, String... more) throws Exception {
    List<String> command = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
        SMALL_HEAP, NO_RSS_CAP, "-cp", System.getProperty("java.class.path"), SmallHeapLoadTest.class.getName(), mode,
        dir.toString()));
    command.addAll(List.of(more));
    Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
    String output = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    return new Result(p.waitFor(), output);
  }

  /**
   * The child JVM: {@code load DIR} loads and checks the weights; {@code load-write DIR OUT} loads them and
   * writes them to OUT from the variables; {@code heap-copy DIR} reads them to the heap.
   */
  public static void main(String[] args) throws Exception {
    Path model = Path.of(args[1]);
    LlamaConfig config = LlamaConfig.read(model);
    try (SafeTensorsReader reader = SafeTensorsReader.open(model)) {
      if (args[0].equals("heap-copy")) {
        Map<String, float[]> all = new LinkedHashMap<>();
        for (String name : reader.names()) {
          all.put(name, reader.readFloats(name));
        }
        System.out.println("held " + all.size());
        return;
      }
      try (Graph g = new Graph()) {
        Ops tf = GraphScopes.root(g);
        Llama llama = Llama.create(tf, config, "policy");
        WeightLoader loader = WeightLoader.create(tf, llama);
        try (Session s = new Session(g)) {
          loader.load(s, reader);
          int checked = 0;
          for (String name : llama.variables().keySet()) {
            checked += check(s, llama, name) ? 1 : 0;
          }
          System.out.println("checked " + checked);
          if (args[0].equals("load-write")) {
            SafeTensorsWriter.writeModel(Path.of(args[2]), loader.sources(s), DType.F32, 30_000_000L);
          }
        }
      }
    }
  }

  /** Compares a few values of each variable (fetching one whole tensor at a time). */
  private static boolean check(Session s, Llama llama, String name) {
    try (var result = s.runner().fetch(llama.variables().get(name)).run()) {
      var t = (org.tensorflow.types.TFloat32) result.get(0);
      long n = t.size();
      for (long i : new long[] {0, n / 3, n - 1}) {
        float got = t.asRawTensor().data().asFloats().getFloat(i);
        if (got != value(name, i)) {
          throw new AssertionError(name + "[" + i + "] = " + got + ", expected " + value(name, i));
        }
      }
      return true;
    }
  }
}
