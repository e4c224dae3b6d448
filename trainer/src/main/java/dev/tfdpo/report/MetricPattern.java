package dev.tfdpo.report;

/**
 * A metric name as typed on the command line, canonicalized ({@code train/loss} → {@code loss}); a
 * trailing {@code *} matches every metric with that prefix ({@code rewards/*}).
 */
record MetricPattern(String text) {

  static MetricPattern parse(String typed) {
    String trimmed = typed.trim();
    if (trimmed.isEmpty()) {
      throw new ReportInputException("empty metric name in a comma-separated list");
    }
    if (trimmed.indexOf('*') >= 0 && trimmed.indexOf('*') != trimmed.length() - 1) {
      throw new ReportInputException("metric pattern \"" + typed + "\": '*' is only allowed at the end");
    }
    return new MetricPattern(MetricNames.canonical(trimmed));
  }

  boolean isGlob() {
    return text.endsWith("*");
  }

  boolean matches(String metric) {
    return isGlob() ? metric.startsWith(text.substring(0, text.length() - 1)) : metric.equals(text);
  }
}
