package dev.tfdpo.trainer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import dev.tfdpo.data.TokenIdsJsonl;
import dev.tfdpo.data.TokenizedPair;
import dev.tfdpo.graphs.Llama;
import dev.tfdpo.graphs.Tensors;
import dev.tfdpo.graphs.WeightLoader;
import dev.tfdpo.graphs.training.Batch;
import dev.tfdpo.graphs.training.BatchInputs;
import dev.tfdpo.graphs.training.DpoGraph;
import dev.tfdpo.io.hf.LlamaConfig;
import dev.tfdpo.io.safetensors.SafeTensorsReader;
import dev.tfdpo.ops.AdamW;
import dev.tfdpo.ops.CompletionLogProbs;
import dev.tfdpo.ops.LossSpec;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.tensorflow.Graph;
import org.tensorflow.Session;
import org.tensorflow.Tensor;
import org.tensorflow.op.Ops;

/**
 * Packed micro-batches against the padded (TRL) layout on the same 8 pairs, for several row lengths
 * (one segment per row up to all in one row), first-fit and in-order filling, with and without shape
 * buckets. The policy is TRL's checkpoint after two steps, so policy and reference differ.
 *
 * <ul>
 *   <li>Per-sequence log-probs (forward graph, the float64 sums before their last rounding): within
 *       1e-4 absolute.
 *   <li>The training graph: the float32 log-probs of policy and reference within 1e-4 or one float32
 *       ulp (the sums are ~1100, where one ulp is 1.2e-4), every metric, and every parameter's
 *       accumulated gradient.
 * </ul>
 */
class PackedLogProbsTest {

  /** Optimizer scalars of a zero-size step: clears the accumulators, leaves the weights. */
  static final float[] ZERO_STEP = {1f, 0f, 1f};

  static final Path MID2 = Golden.FIXTURES.resolve("golden/policies/tiny-llama-a-mid2");

  static DpoGraph graph;
  static List<TokenizedPair> pairs;
  static Batch paddedBatch;
  static DpoGraph.MicroResult padded;
  static Map<String, float[]> paddedGrads;

  static Graph forwardGraph;
  static Session forward;
  static BatchInputs forwardInputs;
  static CompletionLogProbs.Result forwardLogps;
  static double[] padded64;

  @BeforeAll
  static void build() throws Exception {
    LlamaConfig config = LlamaConfig.read(Golden.TINY);
    pairs = TokenIdsJsonl.read(Golden.TOKENS).subList(8, 16);
    paddedBatch = new Collator(2).build(pairs);

    graph = DpoGraph.build(new DpoGraph.Settings(
        config, LossSpec.builder("sigmoid").beta(0.1f).build(), new AdamW.Hyper(0.9f, 0.999f, 1e-8f), 1.0, 2));
    forwardGraph = new Graph();
    Ops tf = Ops.create(forwardGraph);
    forwardInputs = new BatchInputs(tf);
    Llama policy = Llama.create(tf, config, "policy");
    WeightLoader loader = WeightLoader.create(tf, policy);
    forwardLogps = forwardInputs.logProbs(tf, policy);
    forward = new Session(forwardGraph);
    try (SafeTensorsReader ref = SafeTensorsReader.open(Golden.TINY);
        SafeTensorsReader mid = SafeTensorsReader.open(MID2)) {
      graph.referenceLoader().load(graph.session(), ref);
      graph.policyLoader().load(graph.session(), mid);
      loader.load(forward, mid);
    }
    padded = graph.micro(paddedBatch, 1f);
    paddedGrads = graph.accumulatedGradients();
    graph.apply(ZERO_STEP);
    padded64 = logps64(paddedBatch);
  }

  @AfterAll
  static void close() {
    graph.close();
    forward.close();
    forwardGraph.close();
  }

  static double[] logps64(Batch batch) {
    Session.Runner runner = forward.runner();
    List<Tensor> fed = forwardInputs.feed(runner, batch);
    try (var result = runner.fetch(forwardLogps.logps64()).run()) {
      return Tensors.toDoubles(result.get(0));
    } finally {
      BatchInputs.close(fed);
    }
  }

  @ParameterizedTest(name = "max_seq_len {0}, greedy {1}, buckets {2}")
  @CsvSource({"384, true, false", "1024, true, false", "1024, false, false", "4096, true, false", "1024, true, true"})
  void packedMatchesPadded(int maxSeqLen, boolean greedy, boolean buckets) {
    Batch batch = new Packer(2, maxSeqLen, greedy, buckets ? ShapeBuckets.XLA : ShapeBuckets.NONE).build(pairs);

    double[] packed64 = logps64(batch);
    double worst64 = 0;
    for (int s = 0; s < 16; s++) {
      worst64 = Math.max(worst64, Math.abs(packed64[s] - padded64[s]));
    }

    DpoGraph.MicroResult packed = graph.micro(batch, 1f);
    Map<String, float[]> grads = graph.accumulatedGradients();
    graph.apply(ZERO_STEP);
    double worstLogp = 0;
    double worstUlps = 0;
    for (int s = 0; s < 16; s++) {
      for (float[][] pair : List.of(
          new float[][] {packed.policyLogps(), padded.policyLogps()},
          new float[][] {packed.referenceLogps(), padded.referenceLogps()})) {
        double diff = Math.abs(pair[0][s] - pair[1][s]);
        worstLogp = Math.max(worstLogp, diff);
        worstUlps = Math.max(worstUlps, diff / Math.max(1e-4, Math.ulp(Math.abs(pair[1][s]))));
      }
    }
    double worstMetric = 0;
    for (int m = 0; m < padded.metrics().length; m++) {
      double scale = Math.max(1, Math.abs(padded.metrics()[m]));
      worstMetric = Math.max(worstMetric, Math.abs(packed.metrics()[m] - padded.metrics()[m]) / scale);
    }
    double worstGrad = 0;
    for (String name : paddedGrads.keySet()) {
      float[] a = grads.get(name);
      float[] b = paddedGrads.get(name);
      double diff = 0;
      double norm = 0;
      for (int i = 0; i < a.length; i++) {
        diff += (double) (a[i] - b[i]) * (a[i] - b[i]);
        norm += (double) b[i] * b[i];
      }
      worstGrad = Math.max(worstGrad, Math.sqrt(diff / norm));
    }
    System.out.printf("packed %d rows x %d (fill %.3f) vs padded %d x %d (fill %.3f): max |dlogp| float64 sums "
            + "%.2e, float32 %.2e (%.1f x max(1e-4, ulp)), max metric diff %.2e, max rel grad diff %.2e%n",
        batch.rows(), batch.length(), 1 - batch.paddingFraction(), paddedBatch.rows(), paddedBatch.length(),
        1 - paddedBatch.paddingFraction(), worst64, worstLogp, worstUlps, worstMetric, worstGrad);
    assertTrue(worst64 <= 1e-4, "per-sequence log-probs within 1e-4: " + worst64);
    assertTrue(worstUlps <= 1, "float32 log-probs each within 1e-4 or one ulp: " + worstLogp);
    assertEquals(padded.metric("rewards/accuracies"), packed.metric("rewards/accuracies"));
    assertTrue(worstMetric <= 1e-5, "metrics within 1e-5 (relative above 1): " + worstMetric);
    assertTrue(worstGrad <= 1e-4, "gradients within 1e-4 relative L2: " + worstGrad);
  }
}
