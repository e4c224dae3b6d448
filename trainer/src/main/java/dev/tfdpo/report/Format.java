package dev.tfdpo.report;

import java.util.Locale;

/** Number formatting shared by the tables. */
final class Format {

  private Format() {}

  /** Compact scientific form for tolerances and deviations: {@code 1e-04}, {@code 3.142e+00}. */
  static String number(double value) {
    if (value == 0) {
      return "0";
    }
    String text = String.format(Locale.ROOT, "%.3e", value);
    // "1.000e-04" reads better as "1e-04" for round limits.
    return text.replace(".000e", "e");
  }
}
