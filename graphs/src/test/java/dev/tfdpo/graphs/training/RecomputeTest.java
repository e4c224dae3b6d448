package dev.tfdpo.graphs.training;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.tfdpo.graphs.Recompute;
import dev.tfdpo.graphs.Recompute.Granularity;
import dev.tfdpo.io.hf.LlamaConfig;
import dev.tfdpo.io.hf.LlamaWeights;
import dev.tfdpo.ops.AdamW;
import dev.tfdpo.ops.LossSpec;
import dev.tfdpo.ops.Precision;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.api.Test;

/**
 * Recompute changes where the backward pass gets its activations, not what it computes: for every
 * granularity the accumulated gradients of one micro-batch equal those of the plain graph, on two
 * architectures (tiny-llama-a: untied, no biases, 2 layers; a 3-layer variant with tied embeddings and
 * q/k/v/o and MLP biases, so that the tied embedding's two gradient paths and every bias go through the
 * blocks), with seeded random weights, a policy that differs from the reference and a padded batch
 * with padding in it. The same holds in bf16 (O1): the recomputed copy is built by the same methods, so
 * it computes in the first forward's precision.
 */
class RecomputeTest {

  static final Path ROOT = Path.of(System.getProperty("tfdpo.root", ".")).toAbsolutePath();
  static final Path TINY = ROOT.resolve("test/fixtures/tiny-llama-a");

  /**
   * Per tensor, {@code max |g_recompute - g_plain| <= 1e-6 * max |g_plain|}. The blocks' gradients are
   * the same kernels on the same values; what may differ is the order in which contributions to one
   * tensor are summed (the residual stream's and the tied embedding's, one AddN over all of them
   * without recompute, block by block with it): float32 sums of a handful of terms, a few ulps (~1e-7
   * relative each) of the largest term.
   */
  static final double RELATIVE = 1e-6;

  static final Map<String, Map<Granularity, Map<String, float[]>>> GRADIENTS = new LinkedHashMap<>();
  static final Map<String, Map<String, float[]>> PLAIN = new LinkedHashMap<>();
  static final Map<Granularity, Map<String, float[]>> BF16 = new EnumMap<>(Granularity.class);
  static Map<String, float[]> bf16Plain;

  @BeforeAll
  static void run() throws IOException {
    JsonObject a = JsonParser.parseString(Files.readString(TINY.resolve("config.json"))).getAsJsonObject();
    JsonObject b = a.deepCopy();
    b.addProperty("num_hidden_layers", 3);
    b.addProperty("tie_word_embeddings", true);
    b.addProperty("attention_bias", true);
    b.addProperty("mlp_bias", true);
    Map<String, LlamaConfig> configs = new LinkedHashMap<>();
    configs.put("tiny-llama-a", LlamaConfig.fromJson(a, "tiny-llama-a"));
    configs.put("tied-biased", LlamaConfig.fromJson(b, "tiny-llama-a, 3 layers, tied, biases"));
    for (var e : configs.entrySet()) {
      LlamaConfig c = e.getValue();
      Batch batch = paddedBatch(c.vocabSize(), new int[] {9, 12}, new int[] {13, 7}, 5);
      PLAIN.put(e.getKey(), gradients(c, null, batch, Precision.FLOAT32));
      Map<Granularity, Map<String, float[]>> byGranularity = new EnumMap<>(Granularity.class);
      for (Granularity g : Granularity.values()) {
        byGranularity.put(g, gradients(c, g, batch, Precision.FLOAT32));
      }
      GRADIENTS.put(e.getKey(), byGranularity);
    }
    LlamaConfig biased = configs.get("tied-biased");
    Batch batch = paddedBatch(biased.vocabSize(), new int[] {9, 12}, new int[] {13, 7}, 5);
    bf16Plain = gradients(biased, null, batch, Precision.BFLOAT16);
    for (Granularity g : Granularity.values()) {
      BF16.put(g, gradients(biased, g, batch, Precision.BFLOAT16));
    }
  }

  @ParameterizedTest
  @EnumSource(Granularity.class)
  void gradientsEqualThePlainGradients(Granularity g) {
    for (String model : PLAIN.keySet()) {
      double worst = worstRelative(PLAIN.get(model), GRADIENTS.get(model).get(g), model + " " + g);
      System.out.printf("recompute %s on %s: worst relative difference %.3g%n", g.configName(), model, worst);
    }
  }

  /**
   * bf16 O1 with recompute against bf16 O1 without, on the tied, biased 3-layer model: the same bound
   * as in float32. The bfloat16 products are the same kernels on the same (recomputed, hence identical)
   * values; the gradient contributions that are summed in another order are float32 tensors (the
   * residual stream and the tied embedding are float32; casts to bfloat16 sit inside the products).
   */
  @ParameterizedTest
  @EnumSource(Granularity.class)
  void bf16GradientsEqualTheBf16PlainGradients(Granularity g) {
    double worst = worstRelative(bf16Plain, BF16.get(g), "bf16 " + g);
    // The comparison is of bf16 graphs: their gradients are not float32's (bfloat16 keeps 8 bits, ~4e-3).
    float[] f32 = PLAIN.get("tied-biased").get("model.layers.0.mlp.up_proj.weight");
    float[] b16 = bf16Plain.get("model.layers.0.mlp.up_proj.weight");
    double apart = 0;
    for (int i = 0; i < f32.length; i++) {
      apart = Math.max(apart, Math.abs(f32[i] - b16[i]));
    }
    assertTrue(apart > 0, "bf16 gradients equal float32's: bf16 was not in effect");
    System.out.printf("recompute %s in bf16: worst relative difference %.3g%n", g.configName(), worst);
  }

  /** Asserts {@link #RELATIVE} per tensor and returns the worst {@code max|diff| / max|plain|}. */
  private static double worstRelative(Map<String, float[]> plain, Map<String, float[]> recomputed, String what) {
    assertEquals(plain.keySet(), recomputed.keySet(), what);
    double worst = 0;
    for (String name : plain.keySet()) {
      float[] p = plain.get(name);
      float[] r = recomputed.get(name);
      double scale = 0;
      double diff = 0;
      for (int i = 0; i < p.length; i++) {
        scale = Math.max(scale, Math.abs(p[i]));
        diff = Math.max(diff, Math.abs(r[i] - p[i]));
      }
      assertTrue(scale > 0, what + " " + name + ": zero gradient, the comparison would prove nothing");
      assertTrue(diff <= RELATIVE * scale, what + " " + name + ": max diff " + diff + " vs max |g| " + scale);
      worst = Math.max(worst, diff / scale);
    }
    return worst;
  }

  @Test
  void granularityNamesAreParsedOrRefused() {
    assertEquals(Granularity.FULL, Granularity.byName("full"));
    assertEquals(Granularity.FULL_ATTN, Granularity.byName("full_attn"));
    assertEquals(Granularity.CORE_ATTN, Granularity.byName("core_attn"));
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Granularity.byName("layer"));
    assertTrue(e.getMessage().contains("'layer'") && e.getMessage().contains("core_attn"), e.getMessage());
  }

  @Test
  void recomputeWithXlaIsRefused() {
    LlamaConfig c = LlamaConfig.fromJson(
        JsonParser.parseString(readConfig()).getAsJsonObject(), "tiny-llama-a");
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> new DpoGraph.Settings(
        c, new DpoObjective(LossSpec.builder("sigmoid").build()), new AdamW.Hyper(0.9f, 0.999f, 1e-8f), 1.0, 1,
        DpoGraph.Reference.live(c), true).withRecompute(Granularity.FULL));
    assertTrue(e.getMessage().contains("use_xla"), e.getMessage());
  }

  private static String readConfig() {
    try {
      return Files.readString(TINY.resolve("config.json"));
    } catch (IOException e) {
      throw new IllegalStateException(e);
    }
  }

  /** One micro-batch's accumulated gradients under {@code g} (null: no recompute), computing in {@code compute}. */
  private static Map<String, float[]> gradients(LlamaConfig c, Granularity g, Batch batch, Precision compute) {
    DpoGraph.Settings s = new DpoGraph.Settings(c, new DpoObjective(LossSpec.builder("sigmoid").beta(0.1f).build()),
        new AdamW.Hyper(0.9f, 0.999f, 1e-8f), 1.0, 1, DpoGraph.Reference.live(c), false, compute, Precision.FLOAT32)
        .withRecompute(g);
    try (DpoGraph graph = DpoGraph.build(s)) {
      graph.policyLoader().assign(graph.session(), randomWeights(c, 1));
      graph.referenceLoader().assign(graph.session(), randomWeights(c, 2));
      graph.micro(batch, 1f);
      return graph.accumulatedGradients();
    }
  }

  /** Seeded weights: norms around 1, everything else small, so the logits are of ordinary size. */
  static Map<String, float[]> randomWeights(LlamaConfig c, long seed) {
    Random random = new Random(seed);
    Map<String, float[]> out = new LinkedHashMap<>();
    for (LlamaWeights.Entry e : LlamaWeights.of(c).entries()) {
      long n = 1;
      for (long d : e.shape()) {
        n *= d;
      }
      float[] v = new float[(int) n];
      boolean norm = e.hfName().endsWith("norm.weight");
      for (int i = 0; i < v.length; i++) {
        v[i] = (float) ((norm ? 1.0 : 0.0) + 0.1 * random.nextGaussian());
      }
      out.put(e.hfName(), v);
    }
    return out;
  }

  /**
   * A padded batch (TRL's layout): one sequence per row, chosen ones first, padding on the right; the
   * completion of each sequence is everything after its {@code prompt} tokens.
   */
  static Batch paddedBatch(int vocab, int[] chosenLengths, int[] rejectedLengths, int prompt) {
    int pairs = chosenLengths.length;
    int rows = 2 * pairs;
    int[] lengths = new int[rows];
    System.arraycopy(chosenLengths, 0, lengths, 0, pairs);
    System.arraycopy(rejectedLengths, 0, lengths, pairs, pairs);
    int length = 0;
    for (int l : lengths) {
      length = Math.max(length, l);
    }
    Random random = new Random(7);
    int[] ids = new int[rows * length];
    int[] positions = new int[rows * length];
    int[] segments = new int[rows * length];
    List<int[]> predictions = new ArrayList<>();
    long real = 0;
    for (int r = 0; r < rows; r++) {
      for (int t = 0; t < length; t++) {
        int k = r * length + t;
        boolean token = t < lengths[r];
        ids[k] = token ? 3 + random.nextInt(vocab - 3) : 2;
        positions[k] = token ? t : 0;
        segments[k] = token ? 1 : 0;
        if (token && t >= prompt) {
          predictions.add(new int[] {k - 1, ids[k], r}); // position t-1 predicts token t
        }
      }
      real += lengths[r];
    }
    int nc = predictions.size();
    int[] lossPositions = new int[nc];
    int[] lossTargets = new int[nc];
    int[] lossSequences = new int[nc];
    for (int i = 0; i < nc; i++) {
      lossPositions[i] = predictions.get(i)[0];
      lossTargets[i] = predictions.get(i)[1];
      lossSequences[i] = predictions.get(i)[2];
    }
    return new Batch(rows, length, ids, positions, segments, new int[rows * length], lossPositions, lossTargets,
        lossSequences, pairs, real, real, new long[pairs]);
  }

  @Test
  void aTapeRefusesBlocksAfterItsExit() {
    Recompute tape = new Recompute(Granularity.FULL);
    try (org.tensorflow.Graph graph = new org.tensorflow.Graph()) {
      org.tensorflow.op.Ops tf = org.tensorflow.op.Ops.create(graph);
      var x = tf.constant(new float[] {1f, 2f});
      tape.exit(tf, x, List.of());
      assertThrows(IllegalStateException.class, () -> tape.block(tf, x, List.of(), true, (t, in) -> in));
    }
  }
}
