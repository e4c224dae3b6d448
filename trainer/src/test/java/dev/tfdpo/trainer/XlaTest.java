package dev.tfdpo.trainer;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.tfdpo.data.TokenIdsJsonl;
import dev.tfdpo.data.TokenizedPair;
import dev.tfdpo.io.hf.LlamaConfig;
import dev.tfdpo.io.safetensors.SafeTensorsReader;
import dev.tfdpo.ops.AdamW;
import dev.tfdpo.ops.LossSpec;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * {@code use_xla}: the same packed micro-batch through the training graph with and without XLA's JIT
 * gives the same metrics and per-sequence log-probs (XLA fuses differently, so within float32
 * rounding of sums near 1100: 1e-3 absolute on log-probs, 1e-4 relative on metrics).
 */
class XlaTest {

  @Test
  void xlaGivesTheSameNumbers() throws Exception {
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

  static DpoGraph.MicroResult microOnce(LlamaConfig config, Batch batch, boolean useXla) throws Exception {
    DpoGraph.Settings settings = new DpoGraph.Settings(config, LossSpec.builder("sigmoid").beta(0.1f).build(),
        new AdamW.Hyper(0.9f, 0.999f, 1e-8f), 1.0, 2, useXla);
    try (DpoGraph graph = DpoGraph.build(settings);
        SafeTensorsReader weights = SafeTensorsReader.open(Golden.TINY)) {
      graph.policyLoader().load(graph.session(), weights);
      graph.referenceLoader().load(graph.session(), weights);
      return graph.micro(batch, 1f);
    }
  }
}
