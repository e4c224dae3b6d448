package dev.tfdpo.trainer;

/**
 * Rounding of the batch dimensions that vary from micro-batch to micro-batch, so that a compiled
 * graph (XLA compiles one executable per distinct input shape) sees few distinct shapes.
 *
 * <p>Padded rows and filler predictions change nothing numerically: padding is masked out of
 * attention and never predicted, fillers have sequence -1 and count nowhere.
 *
 * @param length row length L is rounded up to a multiple of this (capped at the layout's maximum)
 * @param predictions the number of counted predictions Nc is rounded up to a multiple of this
 */
public record ShapeBuckets(int length, int predictions) {

  /** No rounding: the exact shapes (what the unpacked golden tests use). */
  public static final ShapeBuckets NONE = new ShapeBuckets(1, 1);

  /**
   * With XLA: rows in steps of 64 tokens, predictions in steps of 128 (a {@code [128, V]} logits block
   * is a small fraction of a micro-batch's work).
   */
  public static final ShapeBuckets XLA = new ShapeBuckets(64, 128);

  public ShapeBuckets {
    if (length < 1 || predictions < 1) {
      throw new IllegalArgumentException("buckets must be positive, got " + length + ", " + predictions);
    }
  }

  /** {@code n} rounded up to the length bucket, at most {@code max} (but never below {@code n}). */
  public int roundLength(int n, int max) {
    int rounded = roundUp(n, length);
    return Math.max(n, Math.min(rounded, max));
  }

  /** {@code n} rounded up to the prediction bucket. */
  public int roundPredictions(int n) {
    return roundUp(n, predictions);
  }

  private static int roundUp(int n, int multiple) {
    return (n + multiple - 1) / multiple * multiple;
  }
}
