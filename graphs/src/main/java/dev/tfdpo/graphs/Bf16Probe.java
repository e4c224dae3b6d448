package dev.tfdpo.graphs;

import dev.tfdpo.ops.Precision;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Set;
import org.tensorflow.Graph;
import org.tensorflow.Operand;
import org.tensorflow.Session;
import org.tensorflow.op.Ops;
import org.tensorflow.types.TFloat32;

/**
 * What bfloat16 costs on this CPU, said once at start-up of a bf16 run: whether the CPU multiplies
 * bfloat16 natively (AVX-512 BF16, AMX), and a measured square product in float32 and in bfloat16 the way
 * the model graph runs it ({@link Precision#matMul}: both operands cast, the product, the result cast
 * back). Without native bfloat16 TensorFlow falls back to slow emulated kernels; even with AVX-512 BF16
 * the casts can eat the gain (docs/precision.md).
 *
 * @param nativeBf16 AVX-512 BF16 or AMX BF16 present
 * @param amx AMX BF16 tiles present (the hardware oneDNN's bf16 matmuls are fastest on)
 * @param oneDnn whether oneDNN's kernels are on (its bf16 matmuls need it)
 * @param size side of the measured square product
 * @param float32Ms median milliseconds of the float32 product
 * @param bfloat16Ms median milliseconds of the bfloat16 product with its casts
 */
public record Bf16Probe(
    boolean nativeBf16, boolean amx, boolean oneDnn, int size, double float32Ms, double bfloat16Ms) {

  /** Side of the probe's square product: big enough to be kernel-bound, ~2 GFLOP, well under a second. */
  public static final int SIZE = 1024;

  private static final int RUNS = 5;

  /** Measures on this machine with {@code threads} threads (as {@code num_threads}). */
  public static Bf16Probe measure(int threads) {
    Set<String> flags = OneDnn.cpuFlags(Path.of("/proc/cpuinfo"));
    OneDnn mode = OneDnn.detect();
    try (Graph g = new Graph(); Session session = new Session(g, Sessions.config(threads))) {
      Ops tf = GraphScopes.root(g);
      Operand<TFloat32> a = tf.fill(tf.constant(new int[] {SIZE, SIZE}), tf.constant(0.5f)); // [n, n]
      Operand<TFloat32> f32 = Precision.FLOAT32.matMul(tf, a, a, true); // [n, n]
      Operand<TFloat32> bf16 = Precision.BFLOAT16.matMul(tf, a, a, true); // [n, n]
      double f32Ms = medianMs(session, f32);
      double bf16Ms = medianMs(session, bf16);
      return new Bf16Probe(mode.nativeBf16(), flags.contains("amx_bf16"), mode.on(), SIZE, f32Ms, bf16Ms);
    }
  }

  private static double medianMs(Session session, Operand<TFloat32> product) {
    double[] ms = new double[RUNS];
    session.runner().fetch(product).run().close(); // executor set-up, not timed
    for (int i = 0; i < RUNS; i++) {
      long start = System.nanoTime();
      session.runner().fetch(product).run().close();
      ms[i] = (System.nanoTime() - start) / 1e6;
    }
    Arrays.sort(ms);
    return ms[RUNS / 2];
  }

  /** bfloat16 time over float32 time: below 1 is a gain. */
  public double ratio() {
    return bfloat16Ms / float32Ms;
  }

  /** One start-up line: the hardware, the measurement and what it means for the run. */
  public String describe() {
    String hardware = amx ? "native bfloat16 (AMX)"
        : nativeBf16 ? "native bfloat16 (AVX-512 BF16, no AMX)"
        : "NO native bfloat16 (neither AVX-512 BF16 nor AMX: emulated kernels)";
    String kernels = oneDnn ? "oneDNN on" : "oneDNN off (set TF_ENABLE_ONEDNN_OPTS=1 for its bf16 kernels)";
    String verdict = ratio() < 1
        ? String.format("products %.2fx faster than float32", 1 / ratio())
        : String.format("products %.2fx SLOWER than float32; bf16 still halves what O2 stores and keeps float32 "
            + "master weights, but costs step time here", ratio());
    return String.format("bf16: this CPU has %s, %s; measured %d^3 product: float32 %.1f ms, bfloat16 with "
        + "casts %.1f ms: %s", hardware, kernels, size, float32Ms, bfloat16Ms, verdict);
  }
}
