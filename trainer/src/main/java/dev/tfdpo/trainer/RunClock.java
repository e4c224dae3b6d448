package dev.tfdpo.trainer;

import java.time.Duration;

/**
 * The console's one throughput definition and its ETA. Throughput is real (non-padding) tokens of
 * chosen and rejected rows per second of the training loop's wall time, evaluation left out; the ETA
 * and the second figure of {@link #summary} use the steps after the first, which also sets up
 * TensorFlow's kernels and would otherwise dominate a short run's estimate.
 */
final class RunClock {

  private final long start = System.nanoTime();
  private long end;
  private long evalNanos;
  private long steps;
  private long tokens;
  private long firstStepEnd;
  private long tokensInFirstStep;

  /** A step was applied; {@code tokensSoFar} counts this run's real tokens up to and including it. */
  void stepDone(long tokensSoFar) {
    steps++;
    tokens = tokensSoFar;
    if (steps == 1) {
      firstStepEnd = System.nanoTime();
      tokensInFirstStep = tokensSoFar;
    }
  }

  /** Time spent evaluating, left out of the throughput. */
  void evaluated(long nanos) {
    evalNanos += nanos;
  }

  /** Time left for {@code stepsLeft} more steps; null until a step after the first has run. */
  Duration eta(long stepsLeft) {
    if (steps < 2) {
      return null;
    }
    double perStep = (System.nanoTime() - firstStepEnd - evalNanos) / 1e6 / (steps - 1);
    return Duration.ofMillis((long) Math.max(0, perStep * stepsLeft));
  }

  /** The loop has ended. */
  void stop() {
    end = System.nanoTime();
  }

  /** Tokens per second over the whole loop. */
  double tokensPerSecond() {
    return tokens / ((end - start - evalNanos) / 1e9);
  }

  /** "(12.3 s training loop), 1,234 tok/s (5,678 after step 1, ...)" for the done line. */
  String summary() {
    String afterFirst = steps < 2 ? "" : String.format(" (%,.0f after the first step, which also sets up the kernels)",
        (tokens - tokensInFirstStep) / ((end - firstStepEnd - evalNanos) / 1e9));
    return String.format("(%.1f s training loop), %,.0f tok/s%s", (end - start) / 1e9, tokensPerSecond(), afterFirst);
  }
}
