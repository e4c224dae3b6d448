package dev.tfdpo.io.checkpoint;

import java.io.IOException;

/** A checkpoint that cannot be used or saved; the message says which, why, and what to do. */
public class CheckpointException extends IOException {

  /** With a message naming the checkpoint and the problem. */
  public CheckpointException(String message) {
    super(message);
  }

  /** With a message naming the checkpoint and the problem, keeping the low-level cause. */
  public CheckpointException(String message, Throwable cause) {
    super(message, cause);
  }
}
