package dev.tfdpo.ops;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Random;
import org.junit.jupiter.api.Test;
import org.tensorflow.Graph;
import org.tensorflow.Operand;
import org.tensorflow.Session;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.ndarray.buffer.DataBuffers;
import org.tensorflow.op.Ops;
import org.tensorflow.types.TBfloat16;
import org.tensorflow.types.TFloat32;

/** {@link Precision}: a bfloat16 product against a hand computation; float32 adds no op. */
class PrecisionTest {

  static final int N = 3;
  static final int K = 64;
  static final int M = 5;

  @Test
  void bfloat16ProductIsTheRoundedProductOfRoundedOperands() {
    Random random = new Random(7);
    float[] x = new float[N * K];
    float[] w = new float[M * K];
    for (int i = 0; i < x.length; i++) {
      x[i] = random.nextFloat() * 2 - 1;
    }
    for (int i = 0; i < w.length; i++) {
      w[i] = random.nextFloat() * 2 - 1;
    }
    try (Graph g = new Graph(); Session s = new Session(g)) {
      Ops tf = Ops.create(g);
      Operand<TFloat32> xT = tf.constant(Shape.of(N, K), DataBuffers.of(x)); // [N, K]
      Operand<TFloat32> wT = tf.constant(Shape.of(M, K), DataBuffers.of(w)); // [M, K]
      Operand<TFloat32> bf16 = Precision.BFLOAT16.matMul(tf, xT, wT, true); // [N, M]
      Operand<TFloat32> f32 = Precision.FLOAT32.matMul(tf, xT, wT, true); // [N, M]
      try (var out = s.runner().fetch(bf16).fetch(f32).run()) {
        TFloat32 got = (TFloat32) out.get(0);
        TFloat32 full = (TFloat32) out.get(1);
        double largestGap = 0;
        for (int i = 0; i < N; i++) {
          for (int j = 0; j < M; j++) {
            double exact = 0;
            for (int k = 0; k < K; k++) {
              exact += (double) roundToBfloat16(x[i * K + k]) * roundToBfloat16(w[j * K + k]);
            }
            float want = roundToBfloat16((float) exact);
            float have = got.getFloat(i, j);
            // The kernel sums the 64 exact bf16 x bf16 products in float32 (error ~64 float32 ulps, far
            // below a bfloat16 ulp) and rounds once; the reference rounds the exact sum once: the two
            // can land on neighbouring bfloat16 values, never further apart.
            assertEquals(want, have, ulp(want), "(" + i + ", " + j + ")");
            largestGap = Math.max(largestGap, Math.abs(have - full.getFloat(i, j)));
          }
        }
        // And it really is bfloat16: the float32 product differs by far more than float32 rounding.
        assertTrue(largestGap > 1e-3, "bfloat16 and float32 products differ by only " + largestGap);
      }
    }
  }

  @Test
  void castsOnlyWhenTheTypeDiffers() {
    try (Graph g = new Graph()) {
      Ops tf = Ops.create(g);
      Operand<TFloat32> x = tf.constant(new float[] {1f, 2f});
      assertSame(x, Precision.FLOAT32.cast(tf, x));
      assertSame(x, Precision.float32(tf, x));
      Operand<TBfloat16> b = Precision.as(tf, x, TBfloat16.class);
      assertEquals(TBfloat16.class, b.type());
      assertSame(b, Precision.BFLOAT16.cast(tf, b), "a bfloat16 operand is not cast again");
    }
  }

  /** Round to nearest even on the upper 16 bits (finite values): TensorFlow's float32 to bfloat16 Cast. */
  static float roundToBfloat16(float v) {
    int bits = Float.floatToRawIntBits(v);
    return Float.intBitsToFloat((bits + 0x7FFF + ((bits >>> 16) & 1)) & 0xFFFF0000);
  }

  /** One bfloat16 ulp at {@code v}: 2^-7 of its power of two (8 significant bits). */
  static float ulp(float v) {
    return Math.scalb(1f, Math.getExponent(v) - 7);
  }
}
