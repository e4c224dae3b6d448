package dev.tfdpo.data;

import java.util.Locale;

/** What to do with pairs longer than {@code max_seq_len} ({@code truncation_mode}). */
public enum TruncationMode {
  /**
   * TRL: keep the start of each sequence (the completion's tail goes first). A prompt that alone reaches
   * {@code max_seq_len}, or exceeds {@code max_prompt_len}, makes the row bad (TRL drops it silently).
   */
  KEEP_START,
  /**
   * PaddleNLP: keep the end of the prompt (BOS kept) to {@code max_prompt_len}, then cut the responses
   * to fit {@code max_seq_len}.
   */
  KEEP_END,
  /** Remove pairs over either limit instead of cutting them (the DeepSpeed recipe). */
  DROP;

  /** Parses a {@code truncation_mode} value. */
  public static TruncationMode parse(String s) {
    for (TruncationMode m : values()) {
      if (m.name().toLowerCase(Locale.ROOT).equals(s)) {
        return m;
      }
    }
    throw new IllegalArgumentException("unknown truncation_mode '" + s + "'; use keep_start, keep_end or drop");
  }

  /** The option value. */
  public String optionName() {
    return name().toLowerCase(Locale.ROOT);
  }
}
