package dev.tfdpo.ops;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.List;
import org.junit.jupiter.api.Test;
import org.tensorflow.Graph;
import org.tensorflow.Session;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Gradients;
import org.tensorflow.op.core.Placeholder;
import org.tensorflow.types.TFloat32;

/**
 * The reward-model loss against a hand derivation. Three pairs chosen so that each case appears once:
 * a won pair, a lost pair with a margin, and a tie (not counted as accurate: TRL's comparison is strict).
 *
 * <pre>
 *   r_c = [1, -0.5, 2], r_r = [0, 0.5, 2], m = [0, 0.5, 0]
 *   gap = r_c - r_r = [1, -1, 0];  d = gap - m = [1, -1.5, 0]
 *   loss = (softplus(-1) + softplus(1.5) + ln 2) / 3 = (0.31326169 + 1.70141328 + 0.69314718) / 3
 *   centering, c = 0.1: (r_c + r_r) = [1, 0, 4];  0.1 * (1 + 0 + 16) / 3 = 0.56666667
 *   accuracy = 1/3, min = -0.5, mean = (1 - 0.5 + 2 + 0 + 0.5 + 2) / 6 = 5/6, max = 2, margin = mean gap = 0
 *   d loss / d r_c[p] = (-sigmoid(-d_p) + 2c (r_c + r_r)_p) / 3 = -d loss / d r_r[p] + 4c (r_c + r_r)_p / 3
 * </pre>
 *
 * Tolerance 1e-6: float32 rounding of a handful of operations on values of order 1 (ulp 1.2e-7).
 */
class RewardLossTest {

  static final float[] CHOSEN = {1f, -0.5f, 2f};
  static final float[] REJECTED = {0f, 0.5f, 2f};
  static final float[] MARGIN = {0f, 0.5f, 0f};

  /** metrics [6], then d loss/d chosen [3], d loss/d rejected [3]. */
  static float[][] run(double center) {
    try (Graph g = new Graph()) {
      Ops tf = Ops.create(g);
      Placeholder<TFloat32> c = tf.placeholder(TFloat32.class);
      Placeholder<TFloat32> r = tf.placeholder(TFloat32.class);
      RewardLoss.Result res = RewardLoss.compute(tf, c, r, tf.constant(MARGIN), center);
      Gradients grad = tf.gradients(res.loss(), List.of(c, r));
      try (Session s = new Session(g);
          TFloat32 ct = TFloat32.vectorOf(CHOSEN);
          TFloat32 rt = TFloat32.vectorOf(REJECTED);
          var out = s.runner().feed(c, ct).feed(r, rt).fetch(res.metrics()).fetch(grad.dy(0)).fetch(grad.dy(1))
              .run()) {
        float[][] v = new float[3][];
        for (int k = 0; k < 3; k++) {
          TFloat32 t = (TFloat32) out.get(k);
          v[k] = new float[(int) t.shape().size()];
          for (int i = 0; i < v[k].length; i++) {
            v[k][i] = t.getFloat(i);
          }
        }
        return v;
      }
    }
  }

  static double softplus(double x) {
    return Math.log1p(Math.exp(x));
  }

  static double sigmoid(double x) {
    return 1 / (1 + Math.exp(-x));
  }

  @Test
  void lossAndMetricsMatchTheHandDerivation() {
    float[][] v = run(0);
    double loss = (softplus(-1) + softplus(1.5) + Math.log(2)) / 3;
    assertEquals(List.of("loss", "accuracy", "min_reward", "mean_reward", "max_reward", "margin"), RewardLoss.METRICS);
    assertEquals(loss, v[0][0], 1e-6);
    assertEquals(1.0 / 3, v[0][1], 1e-6);
    assertEquals(-0.5, v[0][2], 1e-6);
    assertEquals(5.0 / 6, v[0][3], 1e-6);
    assertEquals(2.0, v[0][4], 1e-6);
    assertEquals(0.0, v[0][5], 1e-6);
    double[] d = {1, -1.5, 0};
    for (int p = 0; p < 3; p++) {
      assertEquals(-sigmoid(-d[p]) / 3, v[1][p], 1e-6, "d/d chosen " + p);
      assertEquals(sigmoid(-d[p]) / 3, v[2][p], 1e-6, "d/d rejected " + p);
    }
  }

  @Test
  void centeringAddsItsTermAndGradient() {
    float[][] v = run(0.1);
    double loss = (softplus(-1) + softplus(1.5) + Math.log(2)) / 3 + 0.1 * 17 / 3;
    assertEquals(loss, v[0][0], 1e-6);
    double[] d = {1, -1.5, 0};
    double[] sum = {1, 0, 4};
    for (int p = 0; p < 3; p++) {
      double center = 2 * 0.1 * sum[p] / 3;
      assertEquals(-sigmoid(-d[p]) / 3 + center, v[1][p], 1e-6, "d/d chosen " + p);
      assertEquals(sigmoid(-d[p]) / 3 + center, v[2][p], 1e-6, "d/d rejected " + p);
    }
  }
}
