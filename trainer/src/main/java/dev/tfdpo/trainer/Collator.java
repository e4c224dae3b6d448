package dev.tfdpo.trainer;

import dev.tfdpo.data.TokenizedPair;
import dev.tfdpo.graphs.training.Batch;
import java.util.Arrays;
import java.util.List;

/**
 * Builds TRL's unpacked micro-batch: rows {@code [chosen_0 .. chosen_{P-1}, rejected_0 ..
 * rejected_{P-1}]}, each {@code prompt + completion}, right-padded to the longest row, positions
 * {@code 0..L-1}. Predictions are listed row by row, so they come in sequence and completion order.
 */
public final class Collator implements BatchBuilder {

  private final int padId;
  private final ShapeBuckets buckets;

  /** @param padId token id written on padding (masked everywhere, so any valid id works) */
  public Collator(int padId) {
    this(padId, ShapeBuckets.NONE);
  }

  /**
   * @param padId token id written on padding
   * @param buckets rounding of the row length and the prediction count
   */
  public Collator(int padId, ShapeBuckets buckets) {
    this.padId = padId;
    this.buckets = buckets;
  }

  @Override
  public Batch build(List<TokenizedPair> pairs) {
    return padded(pairs);
  }

  /** Collates {@code pairs} (already within the length limit). */
  public Batch padded(List<TokenizedPair> pairs) {
    int p = pairs.size();
    int rows = 2 * p;
    int longest = 0;
    int predictions = 0;
    for (TokenizedPair pair : pairs) {
      longest = Math.max(longest, Math.max(pair.chosenLength(), pair.rejectedLength()));
      predictions += counted(pair.promptIds().length, pair.chosenIds().length);
      predictions += counted(pair.promptIds().length, pair.rejectedIds().length);
    }
    int length = buckets.roundLength(longest, Integer.MAX_VALUE);
    int[] ids = new int[rows * length];
    int[] positions = new int[rows * length];
    int[] segments = new int[rows * length];
    Predictions out = new Predictions(buckets.roundPredictions(predictions));
    Arrays.fill(ids, padId);
    long real = 0;
    long[] indices = new long[p];
    for (int i = 0; i < p; i++) {
      TokenizedPair pair = pairs.get(i);
      indices[i] = pair.index();
      real += fillRow(ids, segments, out, i, length, pair.promptIds(), pair.chosenIds(), i);
    }
    for (int i = 0; i < p; i++) {
      TokenizedPair pair = pairs.get(i);
      real += fillRow(ids, segments, out, p + i, length, pair.promptIds(), pair.rejectedIds(), p + i);
    }
    for (int r = 0; r < rows; r++) {
      for (int t = 0; t < length; t++) {
        positions[r * length + t] = t;
      }
    }
    out.fillRest();
    return new Batch(rows, length, ids, positions, segments, new int[rows * length],
        out.positions, out.targets, out.sequences, p, real, real, indices);
  }

  /**
   * The {@linkplain Batch#header header} of {@code pairs} (for a shard that another task lays out): their
   * data rows, and the sequence of each counted prediction as every layout (padded or packed) lists them,
   * pair i's chosen completion (sequence i) then its rejected one (sequence P + i), each {@link #counted}
   * times: what weighs the token-mean metrics.
   *
   * @param realTokens the shard's token count as the objective counts it
   * @param labels per-pair labels, or null
   */
  static Batch header(List<TokenizedPair> pairs, long realTokens, float[] labels, Batch.Origin origin) {
    int p = pairs.size();
    long[] indices = new long[p];
    int[] counts = new int[2 * p]; // sequence s: pair s % p's chosen (s < p) or rejected completion
    for (int s = 0; s < 2 * p; s++) {
      TokenizedPair pair = pairs.get(s % p);
      indices[s % p] = pair.index();
      counts[s] = counted(pair.promptIds().length, (s < p ? pair.chosenIds() : pair.rejectedIds()).length);
    }
    int[] sequences = new int[Arrays.stream(counts).sum()];
    for (int s = 0, at = 0; s < 2 * p; at += counts[s], s++) {
      Arrays.fill(sequences, at, at + counts[s], s);
    }
    return Batch.header(p, realTokens, indices, labels, sequences, origin);
  }

  /** Completion tokens that are predicted: all, except the first when there is no prompt token. */
  static int counted(int promptLength, int completionLength) {
    return promptLength > 0 ? completionLength : Math.max(completionLength - 1, 0);
  }

  /** Writes one row; returns its token count. */
  private static int fillRow(
      int[] ids, int[] segments, Predictions out, int row, int length, int[] prompt, int[] completion,
      int sequence) {
    int offset = row * length;
    System.arraycopy(prompt, 0, ids, offset, prompt.length);
    System.arraycopy(completion, 0, ids, offset + prompt.length, completion.length);
    int n = prompt.length + completion.length;
    Arrays.fill(segments, offset, offset + n, 1);
    // Position t predicts token t+1: completion tokens sit at prompt.length .. n-1.
    for (int t = Math.max(prompt.length - 1, 0); t < n - 1; t++) {
      out.add(offset + t, ids[offset + t + 1], sequence);
    }
    return n;
  }

  /** The three prediction vectors, filled in order, then padded with fillers. */
  static final class Predictions {
    final int[] positions;
    final int[] targets;
    final int[] sequences;
    private int size;

    Predictions(int capacity) {
      positions = new int[capacity];
      targets = new int[capacity];
      sequences = new int[capacity];
    }

    void add(int position, int target, int sequence) {
      positions[size] = position;
      targets[size] = target;
      sequences[size] = sequence;
      size++;
    }

    /** Filler entries: position 0, target 0, sequence -1 (counted nowhere). */
    void fillRest() {
      Arrays.fill(sequences, size, sequences.length, -1);
      size = sequences.length;
    }
  }
}
