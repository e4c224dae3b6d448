package dev.tfdpo.graphs;

import org.tensorflow.proto.ConfigProto;
import org.tensorflow.proto.GraphOptions;
import org.tensorflow.proto.RewriterConfig;

/**
 * The session options of every graph that computes log-probs (training, the forward-only reference
 * pass, serving), so that the same weights on the same batch give bitwise the same numbers.
 */
public final class Sessions {

  private Sessions() {}

  /** Options with {@code threads} intra- and inter-op threads (0: TensorFlow's default). */
  public static ConfigProto config(int threads) {
    ConfigProto.Builder config = ConfigProto.newBuilder();
    // Grappler's arithmetic optimizer rewrites the policy's forward ops (which feed the gradient)
    // differently from the reference's, so identical weights gave log-probs differing by 1e-4 and
    // step-1 rewards that were not exactly 0 (TRL's are). With it off both paths are bitwise equal.
    RewriterConfig rewrite =
        RewriterConfig.newBuilder().setArithmeticOptimization(RewriterConfig.Toggle.OFF).build();
    config.setGraphOptions(GraphOptions.newBuilder().setRewriteOptions(rewrite));
    if (threads > 0) {
      config.setIntraOpParallelismThreads(threads).setInterOpParallelismThreads(threads);
    }
    return config.build();
  }
}
