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
import java.util.List;
import org.junit.jupiter.api.Test;
import org.tensorflow.Graph;
import org.tensorflow.Session;
import org.tensorflow.Tensor;
import org.tensorflow.op.Ops;
import org.tensorflow.proto.ConfigProto;
import org.tensorflow.proto.GraphDef;
import org.tensorflow.proto.NodeDef;
import org.tensorflow.proto.RunMetadata;
import org.tensorflow.proto.RunOptions;

/**
 * {@code use_xla}: a session configured by {@link Xla#configure} really runs compiled clusters (launch
 * ops in the partitioned graph), and the packed batch's per-sequence log-probs equal the uncompiled
 * session's within 1e-4. Run alone, this passes without any environment variable (the C API call is
 * enough when it precedes the process's first session, as in the trainer); in the module's test JVM
 * other tests start sessions first, so the pom sets {@code TF_XLA_FLAGS=--tf_xla_cpu_global_jit}.
 * The whole training graph (policy, reference, loss) with and without XLA gives the same metrics and
 * per-sequence log-probs (XLA fuses differently, so within float32 rounding of sums near 1100: 1e-3
 * absolute on log-probs, 1e-4 relative on metrics).
 */
class XlaTest {

  @Test
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
        int clusters = compiledClusters(metadata[0]);
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
  void trainingGraphGivesTheSameNumbers() throws Exception {
    LlamaConfig config = LlamaConfig.read(Golden.TINY);
    List<TokenizedPair> pairs = TokenIdsJsonl.read(Golden.TOKENS).subList(0, 4);
    Batch batch = new Packer(2, 1024, true, ShapeBuckets.XLA).build(pairs);
    DpoGraph.MicroResult plain = microOnce(config, batch, false);
    DpoGraph.MicroResult xla = microOnce(config, batch, true);
    for (int s = 0; s < plain.policyLogps().length; s++) {
      assertEquals(plain.policyLogps()[s], xla.policyLogps()[s], 1e-3, "policy logp " + s);
      assertEquals(plain.referenceLogps()[s], xla.referenceLogps()[s], 1e-3, "reference logp " + s);
    }
    for (int k = 0; k < plain.metrics().length; k++) {
      float a = plain.metrics()[k];
      assertEquals(a, xla.metrics()[k], 1e-4 * Math.max(1, Math.abs(a)), plain.names().get(k));
    }
  }

  private static DpoGraph.MicroResult microOnce(LlamaConfig config, Batch batch, boolean useXla)
      throws Exception {
    DpoGraph.Settings settings = new DpoGraph.Settings(config, LossSpec.builder("sigmoid").beta(0.1f).build(),
        new AdamW.Hyper(0.9f, 0.999f, 1e-8f), 1.0, 2, DpoGraph.Reference.live(config), useXla);
    try (DpoGraph graph = DpoGraph.build(settings);
        SafeTensorsReader weights = SafeTensorsReader.open(Golden.TINY)) {
      graph.policyLoader().load(graph.session(), weights);
      graph.referenceLoader().load(graph.session(), weights);
      return graph.micro(batch, 1f);
    }
  }

  /** Launches of compiled clusters ({@code _XlaRun} ops) in the partition graphs of a run. */
  private static int compiledClusters(RunMetadata metadata) {
    int n = 0;
    for (GraphDef g : metadata.getPartitionGraphsList()) {
      for (NodeDef node : g.getNodeList()) {
        if (node.getOp().equals("_XlaRun")) {
          n++;
        }
      }
    }
    return n;
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
