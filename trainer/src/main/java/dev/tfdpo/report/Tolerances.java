package dev.tfdpo.report;

import java.util.ArrayList;
import java.util.Collection;
import java.util.List;

/**
 * The {@code --tolerance} option: comma-separated entries {@code [METRIC=]LIMIT}, where LIMIT is a
 * number (absolute and relative limit both: pass within either), {@code abs:X}, {@code rel:X}, or
 * {@code abs:X+rel:Y}. An entry without METRIC applies to every compared metric; METRIC may end in
 * {@code *}; later entries override earlier ones; metrics no entry matches keep
 * {@link Tolerance#defaultFor their default}.
 */
final class Tolerances {

  private record Entry(MetricPattern pattern, Tolerance tolerance) {}

  private final List<Entry> entries;

  private Tolerances(List<Entry> entries) {
    this.entries = entries;
  }

  /** Only the defaults. */
  static Tolerances defaults() {
    return new Tolerances(List.of());
  }

  /**
   * Parses an option value.
   *
   * @throws ReportInputException naming the bad entry and the expected form
   */
  static Tolerances parse(String spec) {
    List<Entry> entries = new ArrayList<>();
    for (String raw : spec.split(",")) {
      String entry = raw.trim();
      int eq = entry.indexOf('=');
      MetricPattern pattern = eq < 0 ? null : MetricPattern.parse(entry.substring(0, eq));
      String limit = eq < 0 ? entry : entry.substring(eq + 1).trim();
      entries.add(new Entry(pattern, parseLimit(entry, limit)));
    }
    return new Tolerances(entries);
  }

  /** The tolerance for {@code metric}: the last matching entry, else the metric's default. */
  Tolerance forMetric(String metric) {
    Tolerance chosen = Tolerance.defaultFor(metric);
    for (Entry entry : entries) {
      if (entry.pattern() == null || entry.pattern().matches(metric)) {
        chosen = entry.tolerance();
      }
    }
    return chosen;
  }

  /** Named entries that match none of {@code compared} (most likely typos). */
  List<String> unmatched(Collection<String> compared) {
    List<String> unused = new ArrayList<>();
    for (Entry entry : entries) {
      if (entry.pattern() != null && compared.stream().noneMatch(entry.pattern()::matches)) {
        unused.add(entry.pattern().text());
      }
    }
    return unused;
  }

  private static Tolerance parseLimit(String entry, String limit) {
    double abs = 0;
    double rel = 0;
    boolean sawAbs = false;
    boolean sawRel = false;
    // Split only before "abs:"/"rel:" so that a number like 1e+3 stays whole.
    String[] parts = limit.split("\\+(?=\\s*(abs|rel):)");
    for (String part : parts) {
      String p = part.trim();
      if (p.startsWith("abs:")) {
        abs = number(entry, p.substring(4));
        sawAbs = true;
      } else if (p.startsWith("rel:")) {
        rel = number(entry, p.substring(4));
        sawRel = true;
      } else if (parts.length == 1) {
        abs = number(entry, p);
        rel = abs;
        sawAbs = true;
        sawRel = true;
      } else {
        throw badEntry(entry);
      }
    }
    if (!sawAbs && !sawRel) {
      throw badEntry(entry);
    }
    return new Tolerance(abs, rel);
  }

  private static double number(String entry, String text) {
    double value;
    try {
      value = Double.parseDouble(text.trim());
    } catch (NumberFormatException notNumber) {
      throw badEntry(entry);
    }
    if (!(value >= 0) || Double.isInfinite(value)) {
      throw new ReportInputException("--tolerance entry \"" + entry + "\": limits must be finite and >= 0");
    }
    return value;
  }

  private static ReportInputException badEntry(String entry) {
    return new ReportInputException("--tolerance entry \"" + entry + "\" not understood; expected "
        + "[METRIC=]LIMIT with LIMIT a number (absolute or relative), abs:X, rel:X or abs:X+rel:Y, "
        + "e.g. --tolerance loss=1e-4,grad_norm=rel:1e-3 or --tolerance 1e-3");
  }
}
