package dev.tfdpo.data;

import java.nio.file.Path;

/** A data-set row that cannot be used, with the file and line it came from. */
public final class DataFormatException extends RuntimeException {

  private final Path file;
  private final int line;

  public DataFormatException(Path file, int line, String reason) {
    super(file + ":" + line + ": " + reason);
    this.file = file;
    this.line = line;
  }

  /** The data file. */
  public Path file() {
    return file;
  }

  /** 1-based line number in the file (0 when the problem is not tied to a line). */
  public int line() {
    return line;
  }
}
