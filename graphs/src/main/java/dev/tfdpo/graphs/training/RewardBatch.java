package dev.tfdpo.graphs.training;

/**
 * One reward-model micro-batch: P pairs as 2P right-padded rows, the P chosen sequences first, then the
 * P rejected ones (TRL's {@code DataCollatorForPreference}).
 *
 * @param rows R = 2P
 * @param length L, the longest row
 * @param inputIds {@code [R, L]} row-major, padding included
 * @param lengths real tokens of each row {@code [R]} (attention-mask ones; the rest is padding)
 * @param scoreIndices position in its row of each row's score token {@code [R]}: the last token that is
 *     not the pad id, as transformers' sequence classification reads it
 * @param margins per pair {@code [P]} (zeros without a margin column)
 * @param pairIndices data-set positions of the pairs
 */
public record RewardBatch(
    int rows, int length, int[] inputIds, int[] lengths, int[] scoreIndices, float[] margins, long[] pairIndices)
    implements MicroBatch {

  /** Checks the layout. */
  public RewardBatch {
    if (rows != 2 * margins.length || inputIds.length != (long) rows * length || lengths.length != rows
        || scoreIndices.length != rows) {
      throw new IllegalArgumentException("inconsistent reward batch: " + rows + " rows of " + length + ", "
          + inputIds.length + " ids, " + lengths.length + " lengths, " + scoreIndices.length + " score indices, "
          + margins.length + " margins");
    }
  }

  /** P. */
  public int numPairs() {
    return margins.length;
  }

  /** Tokens with attention-mask 1 (TRL's {@code num_tokens}). */
  public long realTokens() {
    long n = 0;
    for (int l : lengths) {
      n += l;
    }
    return n;
  }

  /**
   * Lays out pairs: {@code chosen[p]} and {@code rejected[p]} right-padded with {@code padId}; the score
   * index of a row is its last token that is not {@code padId} (0 when every token is {@code padId}, as
   * transformers' argmax gives).
   */
  public static RewardBatch collate(int[][] chosen, int[][] rejected, float[] margins, long[] pairIndices, int padId) {
    int p = chosen.length;
    int rows = 2 * p;
    int length = 0;
    for (int r = 0; r < rows; r++) {
      length = Math.max(length, (r < p ? chosen[r] : rejected[r - p]).length);
    }
    int[] ids = new int[rows * length];
    java.util.Arrays.fill(ids, padId);
    int[] lengths = new int[rows];
    int[] score = new int[rows];
    for (int r = 0; r < rows; r++) {
      int[] seq = r < p ? chosen[r] : rejected[r - p];
      System.arraycopy(seq, 0, ids, r * length, seq.length);
      lengths[r] = seq.length;
      for (int t = seq.length - 1; t >= 0; t--) {
        if (seq[t] != padId) {
          score[r] = t;
          break;
        }
      }
    }
    return new RewardBatch(rows, length, ids, lengths, score, margins.clone(), pairIndices.clone());
  }
}
