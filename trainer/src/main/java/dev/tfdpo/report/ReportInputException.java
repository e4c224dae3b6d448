package dev.tfdpo.report;

/**
 * An input the report tools cannot use: a missing file, an unknown format, a malformed value, no common
 * steps, a NaN in a compared metric. The message says what, where, and what to do; the command-line tools
 * print it and exit with status 2 (an {@link IllegalArgumentException}: a user's input, to {@code Cli}).
 */
public final class ReportInputException extends IllegalArgumentException {

  public ReportInputException(String message) {
    super(message);
  }

  public ReportInputException(String message, Throwable cause) {
    super(message, cause);
  }
}
