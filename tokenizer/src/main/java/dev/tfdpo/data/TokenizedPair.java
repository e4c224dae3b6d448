package dev.tfdpo.data;

/**
 * One preference pair as token ids, before any length limit is applied.
 *
 * <p>{@code promptIds} starts with BOS when the tokenizer adds one; {@code chosenIds} and
 * {@code rejectedIds} are the completion tokens, EOS included, exactly as TRL builds them. The pair's
 * two sequences are {@code prompt + chosen} and {@code prompt + rejected}.
 *
 * @param index position of the row in its data set (0-based), kept for error messages and logging
 * @param promptIds prompt token ids
 * @param chosenIds chosen completion token ids
 * @param rejectedIds rejected completion token ids
 */
public record TokenizedPair(long index, int[] promptIds, int[] chosenIds, int[] rejectedIds) {

  /** Length in tokens of prompt + chosen. */
  public int chosenLength() {
    return promptIds.length + chosenIds.length;
  }

  /** Length in tokens of prompt + rejected. */
  public int rejectedLength() {
    return promptIds.length + rejectedIds.length;
  }

  /** Tokens of both sequences, the prompt counted once per sequence (TRL's token count of a pair). */
  public int tokens() {
    return chosenLength() + rejectedLength();
  }
}
