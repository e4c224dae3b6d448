package dev.tfdpo.report;

import java.util.ArrayList;
import java.util.List;

/**
 * How far two runs' values of one metric may be apart: a value pair passes when
 * {@code |a − b| ≤ abs} <em>or</em> {@code |a − b| / max(|a|, |b|) ≤ rel}. A limit of 0 only accepts equal
 * values (both zero: the relative deviation of two equal values is 0).
 *
 * @param abs absolute limit, ≥ 0
 * @param rel relative limit, ≥ 0
 */
public record Tolerance(double abs, double rel) {

  /** The default for {@code loss}: absolute 1e-4 (loss is O(1); noise floor of the golden run 3e-6). */
  public static final Tolerance LOSS = new Tolerance(1e-4, 0);
  /** The default for {@code learning_rate}: relative 1e-3 (a schedule is exact; values down to ~1e-5). */
  public static final Tolerance LEARNING_RATE = new Tolerance(0, 1e-3);
  /**
   * The default for every other metric: relative 1e-3, or absolute 2e-5 where values are near zero. Early
   * {@code rewards/*} are ~1e-2, and each reward is beta times a difference of float32 sums of ~1e3
   * (ulp 6e-5): two valid implementations that sum in another order differ by up to ~2e-5 there.
   */
  public static final Tolerance OTHER = new Tolerance(2e-5, 1e-3);

  public Tolerance {
    if (!(abs >= 0) || !(rel >= 0) || Double.isInfinite(abs) || Double.isInfinite(rel)) {
      throw new IllegalArgumentException("tolerances must be finite and >= 0, got abs " + abs + ", rel " + rel);
    }
  }

  /** The default tolerance of a canonical metric name. */
  public static Tolerance defaultFor(String metric) {
    switch (metric) {
      case "loss":
        return LOSS;
      case "learning_rate":
        return LEARNING_RATE;
      default:
        return OTHER;
    }
  }

  /** {@code |a − b| / max(|a|, |b|)}; 0 when {@code a == b} (including both zero). */
  public static double relativeDeviation(double a, double b) {
    if (a == b) {
      return 0;
    }
    return Math.abs(a - b) / Math.max(Math.abs(a), Math.abs(b));
  }

  /** Whether {@code a} and {@code b} agree within this tolerance. */
  public boolean accepts(double a, double b) {
    return Math.abs(a - b) <= abs || relativeDeviation(a, b) <= rel;
  }

  /** E.g. {@code abs 1e-04 or rel 1e-03}; a zero limit is left out. */
  public String describe() {
    List<String> parts = new ArrayList<>();
    if (abs > 0) {
      parts.add("abs " + Format.number(abs));
    }
    if (rel > 0) {
      parts.add("rel " + Format.number(rel));
    }
    return parts.isEmpty() ? "exact" : String.join(" or ", parts);
  }
}
