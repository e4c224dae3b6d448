package dev.tfdpo.ops;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.Random;
import org.junit.jupiter.api.Test;
import org.tensorflow.Graph;
import org.tensorflow.Operand;
import org.tensorflow.Session;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.ndarray.buffer.DataBuffers;
import org.tensorflow.op.Ops;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt32;

/**
 * The LD-DPO and WPO extras of {@link CompletionLogProbs} on a tiny random "model" (hidden states and
 * an lm_head fed as constants) against the same per-token arithmetic in plain Java.
 */
class CompletionLogProbsExtrasTest {

  static final int P = 2;
  static final int S = 2 * P;
  static final int L = 7;
  static final int H = 3;
  static final int V = 5;
  /** Prompt and completion lengths of rows 0..3 = chosen 0, chosen 1, rejected 0, rejected 1. */
  static final int[] PROMPT = {2, 1, 2, 1};
  static final int[] COMPLETION = {3, 2, 2, 5};

  @Test
  void tailLogpsAndWpoWeightsMatchPlainJava() {
    Random random = new Random(7);
    float[] hidden = new float[S * L * H];
    float[] head = new float[V * H];
    int[] ids = new int[S * L];
    int[] lossSeq = new int[S * L];
    for (int i = 0; i < hidden.length; i++) {
      hidden[i] = (float) random.nextGaussian();
    }
    for (int i = 0; i < head.length; i++) {
      head[i] = (float) random.nextGaussian();
    }
    for (int i = 0; i < ids.length; i++) {
      ids[i] = random.nextInt(V);
      lossSeq[i] = -1;
    }
    for (int r = 0; r < S; r++) {
      // Position t predicts token t+1; completion tokens sit at PROMPT[r] .. PROMPT[r]+COMPLETION[r]-1.
      for (int t = PROMPT[r] - 1; t < PROMPT[r] + COMPLETION[r] - 1; t++) {
        lossSeq[r * L + t] = r;
      }
    }

    // Plain Java: per-token log-probs and log sum p^2, then the sums.
    float alpha = 0.3f;
    double[] logps = new double[S];
    double[] tail = new double[S];
    double[] logSquared = new double[S];
    double[] entropy = new double[S];
    double[] meanLogit = new double[S];
    for (int r = 0; r < S; r++) {
      int pair = r % P;
      int shared = Math.min(COMPLETION[pair], COMPLETION[P + pair]);
      for (int t = PROMPT[r] - 1, k = 1; t < PROMPT[r] + COMPLETION[r] - 1; t++, k++) {
        double[] logits = new double[V];
        double max = Double.NEGATIVE_INFINITY;
        for (int v = 0; v < V; v++) {
          for (int h = 0; h < H; h++) {
            logits[v] += hidden[(r * L + t) * H + h] * head[v * H + h];
          }
          max = Math.max(max, logits[v]);
        }
        double sum = 0;
        for (double z : logits) {
          sum += Math.exp(z - max);
        }
        double lse = max + Math.log(sum);
        double squares = 0;
        for (double z : logits) {
          squares += Math.exp(2 * (z - lse));
          entropy[r] -= Math.exp(z - lse) * (z - lse); // -sum p log p
          meanLogit[r] += z / V;
        }
        double logp = logits[ids[r * L + t + 1]] - lse;
        logps[r] += logp;
        tail[r] += k > shared ? logp : 0;
        logSquared[r] += Math.log(squares);
      }
    }

    try (Graph g = new Graph()) {
      Ops tf = Ops.create(g);
      Operand<TFloat32> hiddenT = tf.constant(Shape.of(S, L, H), DataBuffers.of(hidden));
      Operand<TFloat32> headT = tf.constant(Shape.of(V, H), DataBuffers.of(head));
      // The compact prediction list, row by row, plus two fillers (sequence -1) that must count nowhere.
      java.util.List<int[]> entries = new java.util.ArrayList<>();
      for (int i = 0; i < S * L; i++) {
        if (lossSeq[i] >= 0) {
          entries.add(new int[] {i, ids[i + 1], lossSeq[i]});
        }
      }
      entries.add(new int[] {0, 0, -1});
      entries.add(new int[] {3, 1, -1});
      int n = entries.size();
      int[][] cols = new int[3][n];
      for (int k = 0; k < n; k++) {
        for (int c = 0; c < 3; c++) {
          cols[c][k] = entries.get(k)[c];
        }
      }
      Operand<TInt32> positionsT = tf.constant(Shape.of(n), DataBuffers.of(cols[0]));
      Operand<TInt32> targetsT = tf.constant(Shape.of(n), DataBuffers.of(cols[1]));
      Operand<TInt32> seqT = tf.constant(Shape.of(n), DataBuffers.of(cols[2]));
      CompletionLogProbs.Result res =
          CompletionLogProbs.compute(tf, hiddenT, headT, positionsT, targetsT, seqT, tf.constant(S));
      Operand<TFloat32> ld = res.ldWeightedLogps(tf, alpha); // [S]
      Operand<TFloat32> wpo = res.wpoWeights(tf); // [S]
      try (Session s = new Session(g);
          var out = s.runner().fetch(res.logps()).fetch(res.tailLogps()).fetch(res.logSquaredProbSum())
              .fetch(ld).fetch(wpo).fetch(res.entropySum()).fetch(res.meanLogitSum()).run()) {
        for (int r = 0; r < S; r++) {
          double shared = logps[r] - tail[r];
          double wantWpo = Math.exp((logps[r] - logSquared[r]) / COMPLETION[r]);
          assertEquals(logps[r], ((TFloat32) out.get(0)).getFloat(r), 1e-5, "logps " + r);
          assertEquals(tail[r], ((TFloat32) out.get(1)).getFloat(r), 1e-5, "tail " + r);
          assertEquals(logSquared[r], ((TFloat32) out.get(2)).getFloat(r), 1e-5, "log sum p^2 " + r);
          assertEquals(shared + alpha * tail[r], ((TFloat32) out.get(3)).getFloat(r), 1e-5, "ld " + r);
          assertEquals(wantWpo, ((TFloat32) out.get(4)).getFloat(r), 1e-5 * wantWpo, "wpo " + r);
          // Sums of up to 5 per-token values of size ~1-5 in float32: 1e-5 absolute is ~10 ulps.
          assertEquals(entropy[r], ((TFloat32) out.get(5)).getFloat(r), 1e-5, "entropy " + r);
          assertEquals(meanLogit[r], ((TFloat32) out.get(6)).getFloat(r), 1e-5, "mean logit " + r);
        }
      }
    }
    // The tails of this batch: pair 0 shares min(3, 2) = 2 tokens, so chosen 0 has a 1-token tail and
    // rejected 0 none; pair 1 shares min(2, 5) = 2, so rejected 1 has a 3-token tail.
    assertEquals(0.0, tail[2]);
    assertEquals(0.0, tail[1]);
  }
}
