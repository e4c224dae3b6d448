package dev.tfdpo.graphs.training;

import org.tensorflow.internal.c_api.global.tensorflow;
import org.tensorflow.proto.ConfigProto;
import org.tensorflow.proto.GraphDef;
import org.tensorflow.proto.NodeDef;
import org.tensorflow.proto.OptimizerOptions;
import org.tensorflow.proto.RunMetadata;

/**
 * XLA's JIT for graph sessions on CPU ({@code use_xla}).
 *
 * <p>TensorFlow auto-clusters the graph (every op XLA supports, fused into compiled kernels) only when
 * the session's {@code global_jit_level} is on <em>and</em>, on CPU, the process-wide flag
 * {@code tf_xla_cpu_global_jit} is set. That flag is normally read from {@code TF_XLA_FLAGS} before
 * the native library starts; {@code TF_SetTfXlaCpuGlobalJit} of the C API sets it at run time, so no
 * environment variable is needed, provided it runs before the process's first session starts: TensorFlow
 * fixes the CPU clustering policy then. So a run with {@code use_xla} calls {@link #enableForProcess}
 * before it opens any session (the reference precompute pass opens one before the training graph); the
 * flag changes nothing for sessions without ON_1. The training graph checks at its first micro-batch that
 * clusters were really compiled ({@link #compiledClusters}) and fails otherwise, so XLA is never
 * silently off.
 *
 * <p>XLA compiles one executable per distinct set of input shapes; the trainer's {@code ShapeBuckets.XLA} keeps that
 * set small. Ops XLA cannot compile stay ordinary TensorFlow ops.
 */
public final class Xla {

  private Xla() {}

  /** Sets the process-wide CPU auto-clustering flag; must come before the process's first session. */
  public static void enableForProcess() {
    tensorflow.TF_SetTfXlaCpuGlobalJit((byte) 1);
  }

  /** Turns on auto-clustering for sessions created with {@code config}. */
  public static void configure(ConfigProto.Builder config) {
    enableForProcess();
    config.getGraphOptionsBuilder().getOptimizerOptionsBuilder()
        .setGlobalJitLevel(OptimizerOptions.GlobalJitLevel.ON_1);
  }

  /** Launches of compiled clusters ({@code _XlaRun} ops) in the partition graphs of a run. */
  public static int compiledClusters(RunMetadata metadata) {
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
}
