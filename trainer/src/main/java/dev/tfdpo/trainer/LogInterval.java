package dev.tfdpo.trainer;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Sums since the last logged step. Like TRL: loss is the mean of the step losses, the other
 * micro-batch metrics the unweighted mean over micro-batches, grad_norm and learning_rate those of the
 * last step. A metric a micro-batch does not have is NaN there (KTO's {@code rewards/chosen} of a
 * micro-batch without desirable rows) and is left out of that metric's mean, as TRL appends nothing; a
 * metric no micro-batch of the interval had is left out of the line.
 *
 * <p>Its sums are part of a checkpoint ({@link #sums()}), so a run resumed between two logged steps
 * writes the same next line as the uninterrupted run.
 */
final class LogInterval {

  /**
   * The sums, as saved in {@code trainer_state.json}.
   *
   * @param micro per-metric sums over micro-batches (metric order of the graph)
   * @param micros micro-batches summed
   * @param loss sum of step losses
   * @param steps steps summed
   * @param gradNorm last step's pre-clip gradient norm
   * @param learningRate last step's learning rate
   * @param counts per metric, the micro-batches that had it (null in checkpoints written before: all had it)
   */
  record Sums(double[] micro, int micros, double loss, int steps, double gradNorm, double learningRate,
      int[] counts) {}

  private final List<String> names;
  private final double[] microSums;
  private final int[] counts;
  private int micros;
  private double lossSum;
  private int steps;
  private double gradNorm;
  private double lr;
  private long tokens;
  private long started = System.nanoTime();

  LogInterval(List<String> names) {
    this.names = names;
    this.microSums = new double[names.size()];
    this.counts = new int[names.size()];
  }

  void addMicro(float[] metrics, long realTokens) {
    for (int i = 0; i < metrics.length; i++) {
      if (!Float.isNaN(metrics[i])) {
        microSums[i] += metrics[i];
        counts[i]++;
      }
    }
    micros++;
    tokens += realTokens;
  }

  void addStep(double loss, float norm, double rate) {
    lossSum += loss;
    steps++;
    gradNorm = norm;
    lr = rate;
  }

  /** Starts the throughput clock (at the training loop's start, so graph setup is not counted). */
  void startClock() {
    started = System.nanoTime();
  }

  /** Leaves {@code nanos} (time spent evaluating) out of the training throughput. */
  void exclude(long nanos) {
    started += nanos;
  }

  Sums sums() {
    return new Sums(microSums.clone(), micros, lossSum, steps, gradNorm, lr, counts.clone());
  }

  /** Continues from saved sums; refuses sums of another metric set. */
  void restore(Sums s) {
    if (s.micro().length != microSums.length) {
      throw new IllegalArgumentException("the checkpoint logged " + s.micro().length
          + " metrics, this run's graph has " + microSums.length + " (loss settings changed?)");
    }
    System.arraycopy(s.micro(), 0, microSums, 0, microSums.length);
    if (s.counts() != null) {
      System.arraycopy(s.counts(), 0, counts, 0, counts.length);
    } else {
      Arrays.fill(counts, s.micros());
    }
    micros = s.micros();
    lossSum = s.loss();
    steps = s.steps();
    gradNorm = s.gradNorm();
    lr = s.learningRate();
  }

  /** Real tokens per second since the last flush (for the console and TensorBoard, not metrics.jsonl). */
  double tokensPerSecond() {
    return tokens / ((System.nanoTime() - started) / 1e9);
  }

  /**
   * The metrics line of the interval, then a fresh interval. Only deterministic values: the line is
   * compared bitwise between an interrupted-and-resumed run and an uninterrupted one.
   */
  Map<String, Double> flush(double epoch, long cumulativeTokens) {
    Map<String, Double> line = new LinkedHashMap<>();
    line.put("epoch", epoch);
    line.put("loss", lossSum / steps);
    line.put("grad_norm", gradNorm);
    line.put("learning_rate", lr);
    for (int i = 1; i < microSums.length; i++) {
      if (counts[i] > 0) {
        line.put(names.get(i), microSums[i] / counts[i]);
      }
    }
    line.put("num_tokens", (double) cumulativeTokens);
    Arrays.fill(microSums, 0);
    Arrays.fill(counts, 0);
    micros = 0;
    lossSum = 0;
    steps = 0;
    tokens = 0;
    started = System.nanoTime();
    return line;
  }
}
