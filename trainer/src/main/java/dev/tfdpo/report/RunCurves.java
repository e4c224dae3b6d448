package dev.tfdpo.report;

import java.nio.file.Path;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.NavigableMap;
import java.util.Set;
import java.util.TreeMap;

/**
 * The metric curves of one run: per canonical metric name (see {@link MetricNames}), step → value. A
 * value logged twice for the same step keeps the later one (a resumed run re-logs its last steps).
 */
public final class RunCurves {

  private final Path source;
  private final String format;
  private final Map<String, NavigableMap<Long, Double>> series = new LinkedHashMap<>();

  /**
   * @param source the file the curves came from (named in messages)
   * @param format the input format's name, e.g. {@code metrics.jsonl}
   */
  public RunCurves(Path source, String format) {
    this.source = source;
    this.format = format;
  }

  /** Records {@code value} for {@code metric} (a canonical name) at {@code step}. */
  public void put(String metric, long step, double value) {
    series.computeIfAbsent(metric, name -> new TreeMap<>()).put(step, value);
  }

  /** The file the curves came from. */
  public Path source() {
    return source;
  }

  /** The input format's name. */
  public String format() {
    return format;
  }

  /** Metric names in first-seen order. */
  public Set<String> metrics() {
    return Collections.unmodifiableSet(series.keySet());
  }

  /** Whether {@code metric} has at least one value. */
  public boolean has(String metric) {
    return series.containsKey(metric);
  }

  /** Step → value of {@code metric}; empty when the run does not have it. */
  public NavigableMap<Long, Double> series(String metric) {
    NavigableMap<Long, Double> values = series.get(metric);
    return values == null ? Collections.emptyNavigableMap() : Collections.unmodifiableNavigableMap(values);
  }

  /** "path (format)", for messages. */
  public String describe() {
    return source + " (" + format + ")";
  }
}
