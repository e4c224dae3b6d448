package dev.tfdpo.report;

import java.util.Map;
import java.util.NavigableMap;
import java.util.TreeSet;

/**
 * One metric of two runs compared at their common steps.
 *
 * @param metric canonical name
 * @param commonSteps steps both runs logged (the compared ones)
 * @param onlyInA steps only run A logged (not compared)
 * @param onlyInB steps only run B logged (not compared)
 * @param maxAbsDeviation largest {@code |a − b|}
 * @param maxAbsStep first step where it occurs
 * @param maxRelDeviation largest {@code |a − b| / max(|a|, |b|)}
 * @param maxRelStep first step where it occurs
 * @param tolerance the limit applied
 * @param failingSteps steps outside the tolerance
 * @param firstFailingStep the first of them, or -1 when none
 */
public record MetricComparison(String metric, int commonSteps, int onlyInA, int onlyInB,
    double maxAbsDeviation, long maxAbsStep, double maxRelDeviation, long maxRelStep,
    Tolerance tolerance, int failingSteps, long firstFailingStep) {

  /** Whether every common step is within the tolerance. */
  public boolean passed() {
    return failingSteps == 0;
  }

  /**
   * Compares one metric.
   *
   * @throws ReportInputException when the runs share no step for it, or a compared value is NaN or
   *     infinite (a diverged run: there is no meaningful deviation to report)
   */
  static MetricComparison of(String metric, RunCurves a, RunCurves b, Tolerance tolerance) {
    NavigableMap<Long, Double> seriesA = a.series(metric);
    NavigableMap<Long, Double> seriesB = b.series(metric);
    TreeSet<Long> common = new TreeSet<>(seriesA.keySet());
    common.retainAll(seriesB.keySet());
    if (common.isEmpty()) {
      throw new ReportInputException("metric " + metric + ": no common steps (A logs " + stepRange(seriesA)
          + " in " + a.source() + ", B logs " + stepRange(seriesB) + " in " + b.source()
          + "); check that both runs count optimizer steps from 1");
    }
    double maxAbs = -1;
    long maxAbsStep = -1;
    double maxRel = -1;
    long maxRelStep = -1;
    int failing = 0;
    long firstFailing = -1;
    for (long step : common) {
      double valueA = finite(metric, step, seriesA.get(step), "A", a);
      double valueB = finite(metric, step, seriesB.get(step), "B", b);
      double abs = Math.abs(valueA - valueB);
      double rel = Tolerance.relativeDeviation(valueA, valueB);
      if (abs > maxAbs) {
        maxAbs = abs;
        maxAbsStep = step;
      }
      if (rel > maxRel) {
        maxRel = rel;
        maxRelStep = step;
      }
      if (!tolerance.accepts(valueA, valueB)) {
        failing++;
        if (firstFailing < 0) {
          firstFailing = step;
        }
      }
    }
    int onlyA = seriesA.size() - common.size();
    int onlyB = seriesB.size() - common.size();
    return new MetricComparison(metric, common.size(), onlyA, onlyB, maxAbs, maxAbsStep, maxRel,
        maxRelStep, tolerance, failing, firstFailing);
  }

  private static double finite(String metric, long step, double value, String side, RunCurves run) {
    if (!Double.isFinite(value)) {
      throw new ReportInputException("metric " + metric + " is " + value + " at step " + step + " in run "
          + side + " (" + run.source() + "); a non-finite value cannot be compared: pass --metrics "
          + "without " + metric + ", or compare a run that did not diverge");
    }
    return value;
  }

  private static String stepRange(NavigableMap<Long, Double> series) {
    if (series.isEmpty()) {
      return "no steps";
    }
    Map.Entry<Long, Double> first = series.firstEntry();
    return series.size() + " steps " + first.getKey() + ".." + series.lastKey();
  }
}
