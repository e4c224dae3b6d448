package dev.tfdpo.bench;

import dev.tfdpo.graphs.training.Batch;
import dev.tfdpo.io.hf.LlamaConfig;
import dev.tfdpo.ops.Attention;

/**
 * Matmul FLOPs the training graph executes on a micro-batch, for the shapes actually fed (padding
 * and filler predictions included: they are computed). Element-wise work (norms, RoPE, softmax, the
 * optimizer) is not counted.
 *
 * <p>Forward, with {@code N = R * L} token slots, per layer: projections {@code 2 N H (Hq D + 2 Hkv D)}
 * (q, k, v) + {@code 2 N Hq D H} (o), MLP {@code 3 * 2 N H F}, attention {@code 2 * 2 R Hq D sum_i(Lq_i Lk_i)}
 * over the causal query blocks of {@link Attention#CAUSAL_BLOCKS} (block i: its Lq_i queries against the
 * Lk_i keys up to its end; about 2/3 of {@code L^2} for 3 blocks); then the vocabulary projection at the Nc predicting
 * positions, {@code 2 Nc H V}. A policy step is forward + backward = 3 forwards (every matmul has two
 * gradient matmuls of the same size); a live reference adds one forward.
 */
final class FlopCount {

  private FlopCount() {}

  /** Forward matmul FLOPs of one model on {@code b}. */
  static double forward(LlamaConfig c, Batch b) {
    double n = (double) b.rows() * b.length();
    double h = c.hiddenSize();
    double d = c.headDim();
    double q = c.numAttentionHeads() * d;
    double kv = c.numKeyValueHeads() * d;
    double projections = 2 * n * h * (q + 2 * kv) + 2 * n * q * h;
    double mlp = 3 * 2 * n * h * c.intermediateSize();
    double attention = 2 * 2.0 * b.rows() * c.numAttentionHeads() * blockedSquare(b.length()) * d;
    double head = 2.0 * b.lossPositions().length * h * c.vocabSize();
    return c.numHiddenLayers() * (projections + mlp + attention) + head;
  }

  /** Score entries per head and row: {@code sum_i Lq_i * Lk_i} over the causal blocks, as Attention cuts them. */
  static double blockedSquare(int length) {
    int blocks = Attention.CAUSAL_BLOCKS;
    int size = (length + blocks - 1) / blocks;
    double sum = 0;
    for (int i = 0; i < blocks; i++) {
      int begin = Math.min(i * size, length);
      int end = Math.min((i + 1) * size, length);
      sum += (double) (end - begin) * end;
    }
    return sum;
  }

  /** FLOPs of one micro-batch of training: policy forward and backward, plus the live reference. */
  static double trainingStep(LlamaConfig c, Batch b, boolean liveReference) {
    return forward(c, b) * (liveReference ? 4 : 3);
  }
}
