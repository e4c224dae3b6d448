package dev.tfdpo.io.checkpoint;

import java.nio.file.Path;
import java.util.Optional;

/**
 * A save that failed and was rolled back: no {@code checkpoint-N} directory was left behind and the
 * previous checkpoint and {@code latest} marker are as they were.
 */
public final class CheckpointSaveException extends CheckpointException {

  private final long step;
  private final boolean diskFull;
  private final Path previous;

  CheckpointSaveException(String message, Throwable cause, long step, boolean diskFull, Path previous) {
    super(message, cause);
    this.step = step;
    this.diskFull = diskFull;
    this.previous = previous;
  }

  /** The step whose checkpoint could not be saved. */
  public long step() {
    return step;
  }

  /** True when the underlying error says the disk or quota is full. */
  public boolean diskFull() {
    return diskFull;
  }

  /** The checkpoint that remains the one to resume from, if any. */
  public Optional<Path> previous() {
    return Optional.ofNullable(previous);
  }
}
