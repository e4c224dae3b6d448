package dev.tfdpo.report;

/**
 * An input the report tools cannot use: a missing file, an unknown format, a malformed value, no common
 * steps, a NaN in a compared metric. The message says what, where, and what to do; the command-line tools
 * print it and exit with status 2.
 */
public final class ReportInputException extends RuntimeException {

  public ReportInputException(String message) {
    super(message);
  }

  public ReportInputException(String message, Throwable cause) {
    super(message, cause);
  }
}
