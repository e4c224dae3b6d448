package dev.tfdpo.report;

import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/** Two runs compared metric by metric. */
public final class RunComparison {

  /** Metrics compared when none are named: these, where both runs have them. */
  static final List<String> DEFAULT_METRICS = List.of("loss", "grad_norm", "learning_rate");
  /** ... and every metric with one of these prefixes that both runs have. */
  static final List<String> DEFAULT_PREFIXES = List.of("rewards/", "logps/");

  private final RunCurves a;
  private final RunCurves b;
  private final List<MetricComparison> metrics;

  private RunComparison(RunCurves a, RunCurves b, List<MetricComparison> metrics) {
    this.a = a;
    this.b = b;
    this.metrics = metrics;
  }

  /**
   * Compares {@code a} and {@code b}.
   *
   * @param requested metric patterns to compare; empty for the defaults
   * @throws ReportInputException when a requested metric is missing from a run, nothing is left to
   *     compare, a tolerance names no compared metric, or a metric cannot be compared (see
   *     {@link MetricComparison#of})
   */
  static RunComparison compare(RunCurves a, RunCurves b, List<MetricPattern> requested,
      Tolerances tolerances) {
    List<String> selected = requested.isEmpty() ? defaultMetrics(a, b) : requestedMetrics(a, b, requested);
    List<String> unusedTolerances = tolerances.unmatched(selected);
    if (!unusedTolerances.isEmpty()) {
      throw new ReportInputException("--tolerance names " + unusedTolerances + ", which "
          + (unusedTolerances.size() == 1 ? "is" : "are") + " not compared (compared: " + selected + ")");
    }
    List<MetricComparison> results = new ArrayList<>();
    for (String metric : selected) {
      results.add(MetricComparison.of(metric, a, b, tolerances.forMetric(metric)));
    }
    return new RunComparison(a, b, results);
  }

  /** Run A. */
  public RunCurves a() {
    return a;
  }

  /** Run B. */
  public RunCurves b() {
    return b;
  }

  /** Per-metric results, in comparison order. */
  public List<MetricComparison> metrics() {
    return metrics;
  }

  /** Whether every metric passed. */
  public boolean passed() {
    return metrics.stream().allMatch(MetricComparison::passed);
  }

  private static List<String> defaultMetrics(RunCurves a, RunCurves b) {
    Set<String> chosen = new LinkedHashSet<>();
    for (String metric : DEFAULT_METRICS) {
      if (a.has(metric) && b.has(metric)) {
        chosen.add(metric);
      }
    }
    // Known metrics first so the table keeps a stable, readable order; then any other prefixed ones.
    List<String> candidates = new ArrayList<>(MetricNames.KNOWN);
    candidates.addAll(a.metrics());
    for (String metric : candidates) {
      boolean prefixed = DEFAULT_PREFIXES.stream().anyMatch(metric::startsWith);
      if (prefixed && a.has(metric) && b.has(metric)) {
        chosen.add(metric);
      }
    }
    if (chosen.isEmpty()) {
      throw new ReportInputException("the runs share none of the default metrics (loss, grad_norm, "
          + "learning_rate, rewards/*, logps/*): A has " + a.metrics() + ", B has " + b.metrics()
          + "; name metrics with --metrics");
    }
    return new ArrayList<>(chosen);
  }

  private static List<String> requestedMetrics(RunCurves a, RunCurves b, List<MetricPattern> requested) {
    Set<String> chosen = new LinkedHashSet<>();
    for (MetricPattern pattern : requested) {
      if (!pattern.isGlob()) {
        requireIn(pattern.text(), a, "A");
        requireIn(pattern.text(), b, "B");
        chosen.add(pattern.text());
        continue;
      }
      List<String> matched = a.metrics().stream().filter(pattern::matches).filter(b::has).toList();
      if (matched.isEmpty()) {
        throw new ReportInputException("--metrics " + pattern.text() + " matches no metric both runs have: "
            + "A has " + a.metrics() + ", B has " + b.metrics());
      }
      chosen.addAll(matched);
    }
    return new ArrayList<>(chosen);
  }

  private static void requireIn(String metric, RunCurves run, String side) {
    if (!run.has(metric)) {
      throw new ReportInputException("metric " + metric + " is not in run " + side + " " + run.describe()
          + "; it has " + run.metrics());
    }
  }
}
