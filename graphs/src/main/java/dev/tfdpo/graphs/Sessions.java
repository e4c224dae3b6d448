package dev.tfdpo.graphs;

import org.tensorflow.proto.ConfigProto;
import org.tensorflow.proto.GraphOptions;
import org.tensorflow.proto.OptimizerOptions;
import org.tensorflow.proto.RewriterConfig;

/** The session options of every graph that computes log-probs: training, reference pass, serving. */
public final class Sessions {

  private Sessions() {}

  /**
   * Options under which the same weights on the same batch give bitwise the same numbers in every
   * graph and every run of one graph, with oneDNN on or off ({@link OneDnn}).
   *
   * <p>Grappler optimizes each executor's pruned graph on its own, and two of its passes decide by the
   * consumers of an intermediate: the arithmetic optimizer, and the remapper, which fuses a matmul with
   * the element-wise op after it (with oneDNN on: {@code _MklFusedBatchMatMulV2}, {@code _FusedMatMul}
   * with Add or Mul) only where the matmul's output has no other consumer. The policy's forward
   * intermediates also feed its gradient; the reference's, the evaluation run's and the serving graph's
   * do not. So the same product was fused on one path and not on the other: log-probs 1 ulp apart, step-1
   * rewards ~1e-6 instead of 0, an evaluation that differed from its training forward. With both passes
   * off every path runs the same kernels in the same order. oneDNN's own kernels stay: its layout pass
   * (not Grappler) swaps MatMul, BatchMatMul and Einsum for oneDNN ones on every path alike.
   *
   * <p>The rest of Grappler is off too ({@code disable_meta_optimizer}), and the classic graph optimizer
   * runs at {@code L0}, for start-up: Grappler optimizes the whole graph again for every new feed/fetch
   * set, which on the 30-layer SmolLM2-135M shape was most of step 1 (42 CPU-seconds), with steady steps
   * within noise of those with it; the classic optimizer's constant folding ran thousands of small shape
   * subgraphs in the first run of each (about 20 CPU-seconds). The arithmetic and remapper toggles above
   * stay set, so the bitwise-equal paths do not rest on this switch alone. With these options {@code
   * use_xla} still compiles its clusters (XlaTest, oneDNN on and off).
   *
   * @param threads intra- and inter-op threads; 0 = TensorFlow's default
   */
  public static ConfigProto config(int threads) {
    ConfigProto.Builder config = ConfigProto.newBuilder();
    RewriterConfig rewrite =
        RewriterConfig.newBuilder()
            .setArithmeticOptimization(RewriterConfig.Toggle.OFF)
            .setRemapping(RewriterConfig.Toggle.OFF)
            .setDisableMetaOptimizer(true)
            .build();
    OptimizerOptions classic = OptimizerOptions.newBuilder().setOptLevel(OptimizerOptions.Level.L0).build();
    config.setGraphOptions(GraphOptions.newBuilder().setRewriteOptions(rewrite).setOptimizerOptions(classic));
    if (threads > 0) {
      config.setIntraOpParallelismThreads(threads).setInterOpParallelismThreads(threads);
    }
    return config.build();
  }
}
