package dev.tfdpo.export;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import dev.tfdpo.data.TokenIdsJsonl;
import dev.tfdpo.data.TokenizedPair;
import dev.tfdpo.graphs.Tensors;
import dev.tfdpo.graphs.training.Batch;
import dev.tfdpo.graphs.training.DpoGraph;
import dev.tfdpo.io.hf.LlamaConfig;
import dev.tfdpo.io.safetensors.SafeTensorsReader;
import dev.tfdpo.ops.AdamW;
import dev.tfdpo.ops.LossSpec;
import dev.tfdpo.trainer.Collator;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.tensorflow.Result;
import org.tensorflow.SavedModelBundle;
import org.tensorflow.Tensor;
import org.tensorflow.types.TInt32;

/**
 * Each signature of the exported SavedModel, loaded with {@link SavedModelBundle}, against the training
 * graph ({@link DpoGraph#micro}) on the same four pairs: the policy is TRL's trained checkpoint, the
 * reference the base model, so rewards are not zero.
 */
class SavedModelExportTest {

  static final double BETA = 0.25;
  static final float TOLERANCE = 1e-5f;

  @TempDir static Path tmp;
  static Path exported;
  /** Loaded with the trainer's session options: the trainer's numbers bitwise. */
  static SavedModelBundle bundle;
  /** Loaded with TensorFlow's defaults (Grappler's arithmetic optimizer on). */
  static SavedModelBundle plainBundle;
  static List<TokenizedPair> pairs;
  /** Rows in the trainer's order: chosen 0..3, then rejected 0..3. */
  static List<int[]> prompts = new ArrayList<>();
  static List<int[]> completions = new ArrayList<>();
  static Batch batch;
  static DpoGraph.MicroResult training;

  @BeforeAll
  static void build() throws IOException {
    Path state = ExportFixtures.stateDir(tmp.resolve("checkpoint-16"), ExportFixtures.TRAINED, BETA);
    exported = Files.createDirectories(tmp.resolve("savedmodel"));
    SavedModelExport.Exported done = SavedModelExport.export(ModelStateDir.resolve(state), exported);
    assertEquals(ExportFixtures.TINY.toAbsolutePath().normalize(), done.reference());
    bundle = SavedModelExport.load(exported);
    plainBundle = SavedModelBundle.load(exported.toString(), SavedModelExport.TAG);

    pairs = TokenIdsJsonl.read(ExportFixtures.TOKENS).subList(0, 4);
    for (TokenizedPair p : pairs) {
      prompts.add(p.promptIds());
      completions.add(p.chosenIds());
    }
    for (TokenizedPair p : pairs) {
      prompts.add(p.promptIds());
      completions.add(p.rejectedIds());
    }
    batch = new Collator(2).padded(pairs);
    LlamaConfig config = LlamaConfig.read(ExportFixtures.TINY);
    try (DpoGraph graph = DpoGraph.build(new DpoGraph.Settings(config,
            LossSpec.builder("sigmoid").beta((float) BETA).build(), new AdamW.Hyper(0.9f, 0.999f, 1e-8f), 1.0, 2));
        SafeTensorsReader policy = SafeTensorsReader.open(ExportFixtures.TRAINED);
        SafeTensorsReader reference = SafeTensorsReader.open(ExportFixtures.TINY)) {
      graph.policyLoader().load(graph.session(), policy);
      graph.referenceLoader().load(graph.session(), reference);
      training = graph.micro(batch, 1f);
    }
  }

  @AfterAll
  static void close() {
    if (bundle != null) {
      bundle.close();
    }
    if (plainBundle != null) {
      plainBundle.close();
    }
  }

  @Test
  void scoreIsTheTrainingGraphsPolicyLogps() {
    float[] logps = call(bundle, SavedModelExport.SCORE, scoreInputs(0, 0, false)).get("logps");
    assertClose(training.policyLogps(), logps, "score");
    float[] plain = call(plainBundle, SavedModelExport.SCORE, scoreInputs(0, 0, false)).get("logps");
    assertRelativelyClose(training.policyLogps(), plain, "score, default session options");
  }

  @Test
  void rewardIsBetaTimesTheLogRatioOfTheTrainingGraph() {
    Map<String, float[]> out = call(bundle, SavedModelExport.REWARD, scoreInputs(0, 0, false));
    assertClose(training.policyLogps(), out.get("policy_logps"), "reward/policy_logps");
    assertClose(training.referenceLogps(), out.get("reference_logps"), "reward/reference_logps");
    float[] expected = new float[8];
    for (int i = 0; i < 8; i++) {
      expected[i] = (float) BETA * (training.policyLogps()[i] - training.referenceLogps()[i]);
      assertTrue(Math.abs(expected[i]) > 0.01, "the trained policy differs from the reference: " + expected[i]);
    }
    assertClose(expected, out.get("reward"), "reward");
    Map<String, float[]> plain = call(plainBundle, SavedModelExport.REWARD, scoreInputs(0, 0, false));
    assertRelativelyClose(training.policyLogps(), plain.get("policy_logps"), "policy_logps, default session options");
    assertRelativelyClose(training.referenceLogps(), plain.get("reference_logps"), "reference_logps, default session options");
    System.out.printf("reward, default session options: max |diff| = %.3g%n", maxDiff(expected, plain.get("reward")));
    for (int i = 0; i < 8; i++) {
      // beta times the difference of two sums, each within 1e-5 relative.
      double bound = BETA * TOLERANCE * (Math.abs(training.policyLogps()[i]) + Math.abs(training.referenceLogps()[i]));
      assertEquals(expected[i], plain.get("reward")[i], bound, "reward " + i + ", default session options");
    }
    // The trainer's own reward metric is the mean over chosen rows.
    float meanChosen = (out.get("reward")[0] + out.get("reward")[1] + out.get("reward")[2] + out.get("reward")[3]) / 4;
    assertEquals(training.metric("rewards/chosen"), meanChosen, 1e-5f, "rewards/chosen");
  }

  @Test
  void scoreDoesNotDependOnPaddingSideOrWidth() {
    float[] reference = call(bundle, SavedModelExport.SCORE, scoreInputs(0, 0, false)).get("logps");
    float[] shifted = call(bundle, SavedModelExport.SCORE, scoreInputs(3, 5, true)).get("logps");
    assertClose(reference, shifted, "left-padded prompts, extra padding columns");
  }

  @Test
  void logProbsSumToTheTrainingGraphsCompletionLogps() {
    int rows = batch.rows();
    int length = batch.length();
    int[] mask = batch.segmentIds();
    float[] logProbs;
    try (TInt32 ids = Tensors.ints(batch.shape(), batch.inputIds());
        TInt32 m = Tensors.ints(batch.shape(), mask);
        Result r = bundle.function(SavedModelExport.LOG_PROBS).call(Map.of("input_ids", ids, "attention_mask", m))) {
      logProbs = Tensors.toFloats(r.get("log_probs").get());
    }
    float[] sums = new float[rows];
    for (int row = 0; row < rows; row++) {
      int promptLength = prompts.get(row).length;
      int rowLength = promptLength + completions.get(row).length;
      assertEquals(0f, logProbs[row * length], "token 0 has no prediction");
      for (int t = rowLength; t < length; t++) {
        assertEquals(0f, logProbs[row * length + t], "padding");
      }
      for (int t = 1; t < rowLength; t++) {
        assertTrue(logProbs[row * length + t] < 0, "a log-probability");
      }
      for (int t = promptLength; t < rowLength; t++) {
        sums[row] += logProbs[row * length + t];
      }
    }
    // Summed one token at a time in Java instead of by the graph's matmul: float rounding differs a little.
    float maxDiff = maxDiff(training.policyLogps(), sums);
    System.out.printf("log_probs: max |sum over completion - training logps| = %.3g%n", maxDiff);
    for (int i = 0; i < rows; i++) {
      assertEquals(training.policyLogps()[i], sums[i], TOLERANCE * Math.abs(training.policyLogps()[i]), "row " + i);
    }
  }

  @Test
  void logProbsOfLeftPaddedRowsEqualTheRightPaddedOnes() {
    int rows = 2;
    int length = 10;
    int[][] tokens = {{1, 391, 15, 908, 1402, 77, 5, 1999}, {1, 12, 1500, 3, 87}};
    int[] right = new int[rows * length];
    int[] rightMask = new int[rows * length];
    int[] left = new int[rows * length];
    int[] leftMask = new int[rows * length];
    Arrays.fill(right, 7);
    Arrays.fill(left, -1); // any padding id: masked ids are never looked up
    for (int r = 0; r < rows; r++) {
      int n = tokens[r].length;
      for (int t = 0; t < n; t++) {
        right[r * length + t] = tokens[r][t];
        rightMask[r * length + t] = 1;
        left[r * length + length - n + t] = tokens[r][t];
        leftMask[r * length + length - n + t] = 1;
      }
    }
    float[] a = logProbs(right, rightMask, rows, length);
    float[] b = logProbs(left, leftMask, rows, length);
    for (int r = 0; r < rows; r++) {
      int n = tokens[r].length;
      for (int t = 0; t < n; t++) {
        assertEquals(a[r * length + t], b[r * length + length - n + t], TOLERANCE, "row " + r + " token " + t);
      }
      for (int t = 0; t < length - n; t++) {
        assertEquals(0f, b[r * length + t], "left padding");
      }
    }
  }

  @Test
  void logProbsMatchANaiveLogSoftmaxOfTheLogits() throws IOException {
    int[][] rows = {{1, 391, 15, 908, 1402, 77, 5, 1999}, {1, 12, 1500, 3, 87}};
    int length = 8;
    int vocab = 2000;
    float[] logits;
    try (ExportFixtures.LogitsGraph graph = new ExportFixtures.LogitsGraph(LlamaConfig.read(ExportFixtures.TINY))) {
      graph.load(ExportFixtures.TRAINED);
      logits = graph.logits(rows, length);
    }
    int[] ids = new int[2 * length];
    int[] mask = new int[2 * length];
    for (int r = 0; r < 2; r++) {
      for (int t = 0; t < rows[r].length; t++) {
        ids[r * length + t] = rows[r][t];
        mask[r * length + t] = 1;
      }
    }
    float[] actual = logProbs(ids, mask, 2, length);
    double maxDiff = 0;
    for (int r = 0; r < 2; r++) {
      for (int t = 1; t < rows[r].length; t++) {
        int base = (r * length + t - 1) * vocab;
        double max = Double.NEGATIVE_INFINITY;
        for (int v = 0; v < vocab; v++) {
          max = Math.max(max, logits[base + v]);
        }
        double sum = 0;
        for (int v = 0; v < vocab; v++) {
          sum += Math.exp(logits[base + v] - max);
        }
        double expected = logits[base + rows[r][t]] - max - Math.log(sum);
        maxDiff = Math.max(maxDiff, Math.abs(expected - actual[r * length + t]));
      }
    }
    System.out.printf("log_probs vs naive log-softmax of the logits: max diff %.3g%n", maxDiff);
    assertTrue(maxDiff <= TOLERANCE, "per-token log-probs within 1e-5: " + maxDiff);
  }

  @Test
  void aSavedReferenceReplacesTheBaseModel() throws IOException {
    Path state = ExportFixtures.stateDir(tmp.resolve("moving-reference"), ExportFixtures.TRAINED, BETA);
    Files.copy(ExportFixtures.TRAINED.resolve("model.safetensors"), state.resolve(ModelStateDir.REFERENCE_FILE));
    ModelStateDir src = ModelStateDir.resolve(state);
    assertEquals(state.resolve(ModelStateDir.REFERENCE_FILE), src.referenceWeights());
    Path out = Files.createDirectories(tmp.resolve("moving-reference-sm"));
    SavedModelExport.export(src, out);
    try (SavedModelBundle model = SavedModelExport.load(out)) {
      Map<String, float[]> r = call(model, SavedModelExport.REWARD, scoreInputs(0, 0, false));
      assertArrayEquals(r.get("policy_logps"), r.get("reference_logps"), "same weights, bitwise");
      assertArrayEquals(new float[8], r.get("reward"), "zero reward");
    }
  }

  @Test
  void exportPageListsTheSignaturesAsSavedModelCliShowsThem() throws IOException {
    String listing = SavedModelExport.describe(exported);
    System.out.print(listing);
    String page = Files.readString(ExportFixtures.ROOT.resolve("docs/export.md"));
    assertTrue(page.contains(listing), "docs/export.md must contain the signature listing verbatim:\n" + listing);
  }

  // ---- helpers ----

  /** Prompt and completion tensors of the 8 rows; extra padding columns, prompts left-padded if asked. */
  static int[][][] scoreInputs(int extraPrompt, int extraCompletion, boolean leftPadPrompts) {
    int promptWidth = prompts.stream().mapToInt(p -> p.length).max().orElse(0) + extraPrompt;
    int completionWidth = completions.stream().mapToInt(c -> c.length).max().orElse(0) + extraCompletion;
    int rows = prompts.size();
    int[][][] out = {
        {new int[rows * promptWidth], new int[rows * promptWidth], {rows, promptWidth}},
        {new int[rows * completionWidth], new int[rows * completionWidth], {rows, completionWidth}}};
    for (int r = 0; r < rows; r++) {
      int[] p = prompts.get(r);
      int offset = leftPadPrompts ? promptWidth - p.length : 0;
      for (int t = 0; t < p.length; t++) {
        out[0][0][r * promptWidth + offset + t] = p[t];
        out[0][1][r * promptWidth + offset + t] = 1;
      }
      int[] c = completions.get(r);
      for (int t = 0; t < c.length; t++) {
        out[1][0][r * completionWidth + t] = c[t];
        out[1][1][r * completionWidth + t] = 1;
      }
    }
    return out;
  }

  static Map<String, float[]> call(SavedModelBundle model, String signature, int[][][] in) {
    long[] promptShape = {in[0][2][0], in[0][2][1]};
    long[] completionShape = {in[1][2][0], in[1][2][1]};
    try (TInt32 promptIds = Tensors.ints(promptShape, in[0][0]);
        TInt32 promptMask = Tensors.ints(promptShape, in[0][1]);
        TInt32 completionIds = Tensors.ints(completionShape, in[1][0]);
        TInt32 completionMask = Tensors.ints(completionShape, in[1][1]);
        Result r = model.function(signature).call(Map.of(
            "prompt_ids", promptIds, "prompt_mask", promptMask,
            "completion_ids", completionIds, "completion_mask", completionMask))) {
      Map<String, float[]> out = new java.util.TreeMap<>();
      for (Map.Entry<String, Tensor> e : r) {
        out.put(e.getKey(), Tensors.toFloats(e.getValue()));
      }
      return out;
    }
  }

  static float[] logProbs(int[] ids, int[] mask, int rows, int length) {
    long[] shape = {rows, length};
    try (TInt32 i = Tensors.ints(shape, ids);
        TInt32 m = Tensors.ints(shape, mask);
        Result r = bundle.function(SavedModelExport.LOG_PROBS).call(Map.of("input_ids", i, "attention_mask", m))) {
      return Tensors.toFloats(r.get("log_probs").get());
    }
  }

  static void assertClose(float[] expected, float[] actual, String what) {
    assertEquals(expected.length, actual.length, what + ": length");
    float maxDiff = maxDiff(expected, actual);
    System.out.printf("%s: max |diff| = %.3g over %d values%n", what, maxDiff, expected.length);
    assertTrue(maxDiff <= TOLERANCE, what + " within 1e-5 of the training graph: " + maxDiff);
  }

  /** Within 1e-5 relative: float32 sums of ~1000 log-probs rounded in another order. */
  static void assertRelativelyClose(float[] expected, float[] actual, String what) {
    double maxRel = 0;
    for (int i = 0; i < expected.length; i++) {
      maxRel = Math.max(maxRel, Math.abs(expected[i] - actual[i]) / Math.max(1f, Math.abs(expected[i])));
    }
    System.out.printf("%s: max |diff| = %.3g (relative %.3g)%n", what, maxDiff(expected, actual), maxRel);
    assertTrue(maxRel <= TOLERANCE, what + " within 1e-5 relative: " + maxRel);
  }

  static float maxDiff(float[] a, float[] b) {
    float max = 0;
    for (int i = 0; i < a.length; i++) {
      max = Math.max(max, Math.abs(a[i] - b[i]));
    }
    return max;
  }
}
