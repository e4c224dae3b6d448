package dev.tfdpo.bench;

import dev.tfdpo.graphs.GraphScopes;
import java.util.ArrayList;
import java.util.List;
import org.tensorflow.Graph;
import org.tensorflow.Operand;
import org.tensorflow.Session;
import org.tensorflow.op.Ops;
import org.tensorflow.proto.ConfigProto;
import org.tensorflow.types.TFloat32;

/**
 * This machine's dense float32 matmul rate in TensorFlow on a given thread count: {@link #PRODUCTS}
 * independent {@code n x n} products per run (distinct operands, so no common-subexpression
 * elimination folds them), the best of several runs after warm-up.
 */
final class MatmulPeak {

  static final int PRODUCTS = 4;
  static final int RUNS = 5;

  private MatmulPeak() {}

  /** GFLOP/s of {@code 2 n^3} per product. */
  static double measure(int n, int threads) {
    try (Graph g = new Graph()) {
      Ops tf = GraphScopes.root(g);
      Operand<TFloat32> b = tf.variable(tf.random.randomStandardNormal(tf.constant(new long[] {n, n}), TFloat32.class)); // [n, n]
      List<Operand<TFloat32>> sums = new ArrayList<>();
      for (int i = 0; i < PRODUCTS; i++) {
        Operand<TFloat32> a = tf.variable(tf.random.randomStandardNormal(tf.constant(new long[] {n, n}), TFloat32.class)); // [n, n]
        Operand<TFloat32> product = tf.linalg.matMul(a, b); // [n, n]
        sums.add(tf.reduceSum(product, tf.constant(new int[] {0, 1}))); // []
      }
      Operand<TFloat32> total = tf.math.addN(sums); // []
      ConfigProto.Builder config = ConfigProto.newBuilder().setInterOpParallelismThreads(1);
      if (threads > 0) {
        config.setIntraOpParallelismThreads(threads);
      }
      try (Session s = new Session(g, config.build())) {
        s.initialize();
        s.runner().fetch(total).run().close();
        double best = 0;
        for (int r = 0; r < RUNS; r++) {
          long t0 = System.nanoTime();
          s.runner().fetch(total).run().close();
          double seconds = (System.nanoTime() - t0) / 1e9;
          best = Math.max(best, 2.0 * n * n * n * PRODUCTS / seconds / 1e9);
        }
        return best;
      }
    }
  }
}
