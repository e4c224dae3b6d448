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
import dev.tfdpo.graphs.training.Xla;
import dev.tfdpo.io.hf.LlamaConfig;
import dev.tfdpo.io.safetensors.SafeTensorsReader;
import dev.tfdpo.ops.AdamW;
import dev.tfdpo.ops.CompletionLogProbs;
import dev.tfdpo.ops.LossSpec;
import dev.tfdpo.trainer.config.TrainConfig;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.io.TempDir;
import org.tensorflow.Graph;
import org.tensorflow.Session;
import org.tensorflow.Tensor;
import org.tensorflow.op.Ops;
import org.tensorflow.proto.ConfigProto;
import org.tensorflow.proto.RunMetadata;
import org.tensorflow.proto.RunOptions;

/**
 * {@code use_xla}, in a JVM of its own without {@code TF_XLA_FLAGS} (the trainer module's pom runs this
 * class in a separate surefire execution), as a user's process is:
 *
 * <ol>
 *   <li>a training run with a precomputed reference, whose reference pass opens a session before the
 *       training graph exists, still compiles (the run fails if the training graph compiles no
 *       cluster: {@link DpoGraph#xlaClusters()});
 *   <li>a forward graph run with {@link Xla#configure} launches compiled clusters, and the packed
 *       batch's per-sequence log-probs equal the uncompiled session's within 1e-4;
 *   <li>the trainer's own training graph (policy, reference, loss, gradients) launches compiled
 *       clusters and gives the uncompiled graph's metrics and log-probs.
 * </ol>
 *
 * The order matters: TensorFlow fixes the CPU clustering policy at the process's first session, so
 * the trainer run comes first. XLA fuses differently from TensorFlow's kernels, so the numbers agree
 * within float32 rounding of sums near 1100: the forward graph's log-probs measured 3.1e-5 apart (bound
 * 1e-4), the training graph's 1.2e-4 (one ulp of a sum in 1024-2048; bound 2 ulps, 2.5e-4); its metrics
 * 1.1e-7 relative (bound 1e-6).
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class XlaTest {

  @TempDir static Path dir;

  @Test
  @Order(1)
  void precomputedReferenceRunCompiles() throws Exception {
    TrainConfig c = TrainConfig.load(null, List.of(
        "--model_name_or_path", Golden.TINY.toString(),
        "--train_dataset_path", Golden.FIXTURES.resolve("data/pref-en-64.jsonl").toString(),
        "--output_dir", dir.resolve("run").toString(),
        "--train_sampling_strategy", "sequential",
        "--per_device_train_batch_size", "2", "--max_steps", "2", "--max_seq_len", "256",
        "--num_threads", "2", "--report_to", "none",
        "--precompute_ref_log_probs", "true", "--ref_cache_dir", dir.resolve("cache").toString(),
        "--use_xla", "true"));
    ByteArrayOutputStream console = new ByteArrayOutputStream();
    DpoTrainer.run(c, new PrintStream(console), false);
    assertTrue(console.toString().contains("compiled XLA cluster"), console.toString());
  }

  @Test
  @Order(2)
  void packedForwardRunsCompiledAndAgrees() throws Exception {
    LlamaConfig config = LlamaConfig.read(Golden.TINY);
    List<TokenizedPair> pairs = TokenIdsJsonl.read(Golden.TOKENS).subList(0, 4);
    Batch batch = new Packer(2, 1024, true, ShapeBuckets.XLA).build(pairs);
    try (Graph g = new Graph()) {
      Ops tf = Ops.create(g);
      BatchInputs inputs = new BatchInputs(tf);
      Llama model = Llama.create(tf, config, "policy");
      WeightLoader loader = WeightLoader.create(tf, model);
      CompletionLogProbs.Result logps = inputs.logProbs(tf, model);
      ConfigProto.Builder xla = ConfigProto.newBuilder();
      Xla.configure(xla);
      try (Session plain = new Session(g);
          Session compiled = new Session(g, xla.build());
          SafeTensorsReader weights = SafeTensorsReader.open(Golden.TINY)) {
        loader.load(plain, weights);
        loader.load(compiled, weights);
        double[] expected = run(plain, inputs, batch, logps, null);
        RunMetadata[] metadata = new RunMetadata[1];
        double[] actual = null;
        for (int i = 0; i < 3; i++) { // compilation is lazy: a shape is compiled once it repeats
          actual = run(compiled, inputs, batch, logps, metadata);
        }
        int clusters = Xla.compiledClusters(metadata[0]);
        assertEquals(expected.length, actual.length);
        double worst = 0;
        for (int s = 0; s < expected.length; s++) {
          worst = Math.max(worst, Math.abs(expected[s] - actual[s]));
        }
        System.out.printf("XLA: %d compiled cluster launch(es) in the partitioned graph; max |dlogp| %.2e%n",
            clusters, worst);
        assertTrue(clusters > 0, "no compiled cluster: XLA did not run");
        assertTrue(worst <= 1e-4, "per-sequence log-probs within 1e-4: " + worst);
      }
    }
  }

  @Test
  @Order(3)
  void trainingGraphCompilesAndGivesTheSameNumbers() throws Exception {
    LlamaConfig config = LlamaConfig.read(Golden.TINY);
    List<TokenizedPair> pairs = TokenIdsJsonl.read(Golden.TOKENS).subList(0, 4);
    Batch batch = new Packer(2, 1024, true, ShapeBuckets.XLA).build(pairs);
    DpoGraph.MicroResult plain = microOnce(config, batch, false);
    DpoGraph.MicroResult xla = microOnce(config, batch, true);
    double worstLogp = 0;
    for (int s = 0; s < plain.policyLogps().length; s++) {
      worstLogp = Math.max(worstLogp, Math.abs(plain.policyLogps()[s] - xla.policyLogps()[s]));
      worstLogp = Math.max(worstLogp, Math.abs(plain.referenceLogps()[s] - xla.referenceLogps()[s]));
    }
    double worstMetric = 0;
    for (int k = 0; k < plain.metrics().length; k++) {
      float a = plain.metrics()[k];
      worstMetric = Math.max(worstMetric, Math.abs(a - xla.metrics()[k]) / Math.max(1, Math.abs(a)));
    }
    System.out.printf("XLA training graph: max |dlogp| %.2e, max metric diff %.2e (relative above 1)%n",
        worstLogp, worstMetric);
    assertTrue(worstLogp <= 2.5e-4, "log-probs " + worstLogp);
    assertTrue(worstMetric <= 1e-6, "metrics " + worstMetric);
  }

  private static DpoGraph.MicroResult microOnce(LlamaConfig config, Batch batch, boolean useXla)
      throws Exception {
    DpoGraph.Settings settings = new DpoGraph.Settings(config, LossSpec.builder("sigmoid").beta(0.1f).build(),
        new AdamW.Hyper(0.9f, 0.999f, 1e-8f), 1.0, 2, DpoGraph.Reference.live(config), useXla);
    try (DpoGraph graph = DpoGraph.build(settings);
        SafeTensorsReader weights = SafeTensorsReader.open(Golden.TINY)) {
      graph.policyLoader().load(graph.session(), weights);
      graph.referenceLoader().load(graph.session(), weights);
      DpoGraph.MicroResult r = graph.micro(batch, 1f);
      if (useXla) {
        assertTrue(graph.xlaClusters() > 0, "the training graph compiled no cluster");
      } else {
        assertEquals(-1, graph.xlaClusters());
      }
      return r;
    }
  }

  private static double[] run(Session s, BatchInputs inputs, Batch batch, CompletionLogProbs.Result logps,
      RunMetadata[] metadata) {
    Session.Runner runner = s.runner();
    List<Tensor> fed = inputs.feed(runner, batch);
    runner.fetch(logps.logps64());
    if (metadata != null) {
      runner.setOptions(RunOptions.newBuilder().setOutputPartitionGraphs(true).build());
    }
    try (var result = metadata != null ? runner.runAndFetchMetadata() : runner.run()) {
      if (metadata != null) {
        metadata[0] = result.getMetadata().orElseThrow();
      }
      return Tensors.toDoubles(result.get(0));
    } finally {
      BatchInputs.close(fed);
    }
  }
}
