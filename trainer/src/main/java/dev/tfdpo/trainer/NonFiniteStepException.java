package dev.tfdpo.trainer;

import java.util.List;

import dev.tfdpo.graphs.training.MicroBatch;
import dev.tfdpo.graphs.training.DpoGraph;
import dev.tfdpo.graphs.training.TrainingGraph;

/**
 * A training step whose loss or gradient is NaN or infinite. It is thrown before the step's update
 * runs, so the weights (and optimizer state) are still those after the previous step, and nothing has
 * been written over earlier outputs.
 */
public final class NonFiniteStepException extends IllegalStateException {

  private final long step;
  private final String quantity;

  /**
   * @param step the 1-based optimizer step that was not applied
   * @param quantity the first non-finite quantity, e.g. {@code loss (NaN in micro-batch 1 of 2, ...)}
   */
  public NonFiniteStepException(long step, String quantity) {
    this(step, quantity, null);
  }

  /**
   * @param kept the checkpoint holding the last good state, or null when there is none (step 1, or
   *     {@code save_strategy no})
   */
  public NonFiniteStepException(long step, String quantity, java.nio.file.Path kept) {
    super("step " + step + ": non-finite " + quantity + "; the update was not applied and nothing was written over"
        + " earlier outputs"
        + (step > 1
            ? "; the last good weights are those after step " + (step - 1)
                + (kept != null ? ", saved in " + kept + " (resume or export from there)" : "")
            : "; the last good weights are the starting ones"));
    this.step = step;
    this.quantity = quantity;
  }

  /** The step that was not applied. */
  public long step() {
    return step;
  }

  /** The first non-finite quantity, as in the message. */
  public String quantity() {
    return quantity;
  }

  /**
   * The finiteness check of one optimizer step: micro-batch losses as they come, then the gradient norms
   * before the update.
   */
  static final class Guard {
    private final long step;
    private final int microBatches;
    private int seen;
    private String firstLoss;

    Guard(long step, int microBatches) {
      this.step = step;
      this.microBatches = microBatches;
    }

    /** Records one micro-batch's loss. */
    void loss(float value, MicroBatch batch) {
      loss(value, List.of(batch));
    }

    /**
     * Records one global micro-batch's loss, gathered over its replicas' {@code shards}: a non-finite one
     * names the data rows of every shard (the gathered loss is one of them all).
     */
    void loss(float value, List<? extends MicroBatch> shards) {
      seen++;
      if (firstLoss == null && !Float.isFinite(value)) {
        long[] rows = shards.stream().flatMapToLong(b -> java.util.Arrays.stream(b.pairIndices())).toArray();
        firstLoss = "loss (" + value + " in micro-batch " + seen + " of " + microBatches + ", data rows "
            + rows(rows) + ")";
      }
    }

    /** Throws when a loss or a gradient was not finite; the loss comes first (it is computed first). */
    void check(DpoGraph.GradientNorm norm) {
      if (firstLoss != null) {
        throw new NonFiniteStepException(step, firstLoss);
      }
      String param = norm.firstNonFinite();
      if (param != null) {
        throw new NonFiniteStepException(step, "gradient (first: " + param + "; global norm " + norm.total() + ")");
      }
    }

    /**
     * The end of a step: the accumulated gradient's norms, {@link #check}, and only then the update
     * (clipping with those norms, AdamW, cleared accumulators). A non-finite step throws before
     * anything changes.
     *
     * @return the norms before clipping
     */
    DpoGraph.GradientNorm update(TrainingGraph<?> graph, float[] optimizerScalars) {
      DpoGraph.GradientNorm norm = graph.gradientNorm();
      check(norm);
      graph.apply(optimizerScalars, norm.total());
      return norm;
    }

    private static String rows(long[] rows) {
      StringBuilder b = new StringBuilder("[");
      for (int i = 0; i < rows.length && i < 8; i++) {
        b.append(i > 0 ? ", " : "").append(rows[i]);
      }
      return b.append(rows.length > 8 ? ", ...]" : "]").toString();
    }
  }
}
