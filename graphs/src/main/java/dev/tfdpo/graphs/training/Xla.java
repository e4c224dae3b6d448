package dev.tfdpo.graphs.training;

import org.tensorflow.internal.c_api.global.tensorflow;
import org.tensorflow.proto.ConfigProto;
import org.tensorflow.proto.OptimizerOptions;

/**
 * XLA's JIT for graph sessions on CPU ({@code use_xla}).
 *
 * <p>TensorFlow auto-clusters the graph (every op XLA supports, fused into compiled kernels) only when
 * the session's {@code global_jit_level} is on <em>and</em>, on CPU, the process-wide flag
 * {@code tf_xla_cpu_global_jit} is set. That flag is normally read from {@code TF_XLA_FLAGS} before
 * the native library starts; {@code TF_SetTfXlaCpuGlobalJit} of the C API sets it at run time, so no
 * environment variable is needed, provided it runs before the process's first session starts: TensorFlow
 * fixes the CPU clustering policy then ({@link DpoGraph} calls it before creating its session; a process
 * that creates other sessions first needs {@code TF_XLA_FLAGS=--tf_xla_cpu_global_jit}, which is harmless
 * for sessions without ON_1).
 *
 * <p>XLA compiles one executable per distinct set of input shapes; the trainer's {@code ShapeBuckets.XLA} keeps that
 * set small. Ops XLA cannot compile stay ordinary TensorFlow ops.
 */
public final class Xla {

  private Xla() {}

  /** Turns on auto-clustering for sessions created with {@code config}. */
  public static void configure(ConfigProto.Builder config) {
    tensorflow.TF_SetTfXlaCpuGlobalJit((byte) 1);
    config.getGraphOptionsBuilder().getOptimizerOptionsBuilder()
        .setGlobalJitLevel(OptimizerOptions.GlobalJitLevel.ON_1);
  }
}
