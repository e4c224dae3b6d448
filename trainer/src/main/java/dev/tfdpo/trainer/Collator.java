package dev.tfdpo.trainer;

import dev.tfdpo.data.TokenizedPair;
import java.util.Arrays;
import java.util.List;

/**
 * Builds TRL's unpacked micro-batch: rows {@code [chosen_0 .. chosen_{P-1}, rejected_0 ..
 * rejected_{P-1}]}, each {@code prompt + completion}, right-padded to the longest row, positions
 * {@code 0..L-1}.
 */
public final class Collator {

  private final int padId;

  /** @param padId token id written on padding (masked everywhere, so any valid id works) */
  public Collator(int padId) {
    this.padId = padId;
  }

  /** Collates {@code pairs} (already within the length limit). */
  public Batch padded(List<TokenizedPair> pairs) {
    int p = pairs.size();
    int rows = 2 * p;
    int length = 0;
    for (TokenizedPair pair : pairs) {
      length = Math.max(length, Math.max(pair.chosenLength(), pair.rejectedLength()));
    }
    int[] ids = new int[rows * length];
    int[] positions = new int[rows * length];
    int[] segments = new int[rows * length];
    int[] lossSeq = new int[rows * length];
    Arrays.fill(ids, padId);
    Arrays.fill(lossSeq, -1);
    long real = 0;
    long[] indices = new long[p];
    for (int i = 0; i < p; i++) {
      TokenizedPair pair = pairs.get(i);
      indices[i] = pair.index();
      real += fillRow(ids, segments, lossSeq, i * length, pair.promptIds(), pair.chosenIds(), i);
      real += fillRow(ids, segments, lossSeq, (p + i) * length, pair.promptIds(), pair.rejectedIds(), p + i);
    }
    for (int r = 0; r < rows; r++) {
      for (int t = 0; t < length; t++) {
        positions[r * length + t] = t;
      }
    }
    return new Batch(rows, length, ids, positions, segments, new int[rows * length], lossSeq, p, real, indices);
  }

  /** Writes one row; returns its token count. */
  private static int fillRow(
      int[] ids, int[] segments, int[] lossSeq, int offset, int[] prompt, int[] completion, int sequence) {
    System.arraycopy(prompt, 0, ids, offset, prompt.length);
    System.arraycopy(completion, 0, ids, offset + prompt.length, completion.length);
    int n = prompt.length + completion.length;
    Arrays.fill(segments, offset, offset + n, 1);
    // Position t predicts token t+1: completion tokens sit at prompt.length .. n-1.
    int firstPredictor = Math.max(prompt.length - 1, 0);
    Arrays.fill(lossSeq, offset + firstPredictor, offset + n - 1, sequence);
    return n;
  }
}
