package dev.tfdpo.data;

import java.util.Locale;

/** What to do with unusable rows ({@code on_bad_row}). */
public enum OnBadRow {
  /** Stop after reading the file, listing the first problems and their total. */
  ERROR,
  /** Leave them out and count them in the data summary. */
  SKIP;

  /** Parses an {@code on_bad_row} value. */
  public static OnBadRow parse(String s) {
    for (OnBadRow m : values()) {
      if (m.name().toLowerCase(Locale.ROOT).equals(s)) {
        return m;
      }
    }
    throw new IllegalArgumentException("unknown on_bad_row '" + s + "'; use error or skip");
  }

  /** The option value. */
  public String optionName() {
    return name().toLowerCase(Locale.ROOT);
  }
}
