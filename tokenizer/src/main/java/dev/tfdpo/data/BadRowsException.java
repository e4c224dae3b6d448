package dev.tfdpo.data;

import java.nio.file.Path;
import java.util.List;

/** The data file has unusable rows and {@code on_bad_row} is {@code error}. */
public final class BadRowsException extends RuntimeException {

  /** One unusable row. */
  public record Problem(Path file, int line, String rule, String reason) {
    @Override
    public String toString() {
      return file + ":" + line + ": " + reason;
    }
  }

  private final List<Problem> first;
  private final long total;

  BadRowsException(Path file, List<Problem> first, long total) {
    super(message(file, first, total));
    this.first = List.copyOf(first);
    this.total = total;
  }

  /** The first problems found (at most {@link DataSummary#MAX_LISTED}). */
  public List<Problem> problems() {
    return first;
  }

  /** How many rows are unusable in all. */
  public long total() {
    return total;
  }

  private static String message(Path file, List<Problem> first, long total) {
    StringBuilder sb = new StringBuilder();
    sb.append(file).append(": ").append(total).append(total == 1 ? " unusable row" : " unusable rows");
    if (total > first.size()) {
      sb.append(" (first ").append(first.size()).append(" listed)");
    }
    sb.append(":\n");
    for (Problem p : first) {
      sb.append("  ").append(p).append('\n');
    }
    sb.append("Fix these rows, or set on_bad_row=skip to leave them out (they are counted in the data summary).");
    return sb.toString();
  }
}
