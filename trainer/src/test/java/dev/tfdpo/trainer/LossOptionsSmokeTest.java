package dev.tfdpo.trainer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import dev.tfdpo.data.TokenIdsJsonl;
import dev.tfdpo.graphs.training.Batch;
import dev.tfdpo.graphs.training.DpoGraph;
import dev.tfdpo.io.hf.LlamaConfig;
import dev.tfdpo.io.safetensors.SafeTensorsReader;
import dev.tfdpo.ops.AdamW;
import dev.tfdpo.ops.LossSpec;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The options without a golden, through the whole graph on the real batch: a reference-free loss with
 * WPO weighting, LD-DPO, the NLL and ftx terms builds, differentiates and reports its metrics.
 */
class LossOptionsSmokeTest {

  @Test
  void referenceFreeWithEveryOptionTrains() throws Exception {
    LossSpec spec = LossSpec.builder("simpo", "sft").useWeighting(true).ldAlpha(0.5f).rpoAlpha(0.3f)
        .prefFtx(0.2f).build();
    assertTrue(spec.referenceFree());
    Batch batch = new Collator(2).padded(TokenIdsJsonl.read(Golden.TOKENS).subList(0, 4));
    try (DpoGraph graph = DpoGraph.build(new DpoGraph.Settings(
        LlamaConfig.read(Golden.TINY), spec, new AdamW.Hyper(0.9f, 0.999f, 1e-8f), 1.0, 2))) {
      try (SafeTensorsReader ref = SafeTensorsReader.open(Golden.TINY)) {
        graph.referenceLoader().load(graph.session(), ref);
      }
      try (SafeTensorsReader pol = SafeTensorsReader.open(
          Golden.resolveShared("golden/policies/tiny-llama-a-mid2"))) {
        graph.policyLoader().load(graph.session(), pol);
      }
      assertEquals(DpoGraph.BASE_METRICS, graph.metricNames().subList(0, 11));
      assertEquals(List.of("simpo_loss", "sft_loss", "ftx_loss"), graph.metricNames().subList(11, 14));
      DpoGraph.MicroResult r = graph.micro(batch, 1f);
      for (String name : graph.metricNames()) {
        assertTrue(Float.isFinite(r.metric(name)), name + " = " + r.metric(name));
      }
      // Reference-free: rewards are b * pi (LD-weighted), so strictly negative here.
      assertTrue(r.metric("rewards/chosen") < 0);
      Map<String, float[]> grads = graph.accumulatedGradients();
      double total = 0;
      for (float[] g : grads.values()) {
        double n = Golden.l2(g);
        assertTrue(Double.isFinite(n));
        total += n * n;
      }
      assertTrue(total > 0, "gradient flows");
      System.out.printf("smoke: loss %.6f simpo %.6f sft %.6f ftx %.6f grad %.4f%n", r.metric("loss"),
          r.metric("simpo_loss"), r.metric("sft_loss"), r.metric("ftx_loss"), Math.sqrt(total));
      // The total from its reported parts: simpo + sft (both pair means, WPO-weighted) + 0.3 * NLL +
      // 0.2 * ftx, with NLL = -sum(pi_c) / sum(n_c) on the plain sums.
      double logps = 0;
      double tokens = 0;
      for (int s = 0; s < 4; s++) {
        logps += r.policyLogps()[s];
      }
      for (int v : batch.lossSequences()) {
        tokens += v >= 0 && v < 4 ? 1 : 0;
      }
      double nll = -logps / tokens;
      double rebuilt = r.metric("simpo_loss") + r.metric("sft_loss") + 0.3 * nll + 0.2 * r.metric("ftx_loss");
      assertEquals(rebuilt, r.metric("loss"), 1e-5 * rebuilt);
    }
  }
}
