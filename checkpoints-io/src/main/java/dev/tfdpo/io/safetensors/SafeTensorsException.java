package dev.tfdpo.io.safetensors;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Optional;

/** A safetensors file or index that cannot be read or written; the message names the file and tensor. */
public final class SafeTensorsException extends IOException {

  private final Path file;
  private final String tensor;

  /** A problem with the file as a whole. */
  public SafeTensorsException(Path file, String reason) {
    this(file, null, reason, null);
  }

  /** A problem with one tensor of the file ({@code tensor} may be null for file-level problems). */
  public SafeTensorsException(Path file, String tensor, String reason) {
    this(file, tensor, reason, null);
  }

  /** As {@link #SafeTensorsException(Path, String, String)}, keeping the low-level cause. */
  public SafeTensorsException(Path file, String tensor, String reason, Throwable cause) {
    super(file + (tensor == null ? "" : ", tensor '" + tensor + "'") + ": " + reason, cause);
    this.file = file;
    this.tensor = tensor;
  }

  /** The safetensors file or index file at fault. */
  public Path file() {
    return file;
  }

  /** The tensor at fault, when the problem concerns one. */
  public Optional<String> tensor() {
    return Optional.ofNullable(tensor);
  }
}
