package dev.tfdpo.trainer;

import dev.tfdpo.data.TokenizedPair;
import dev.tfdpo.graphs.training.Batch;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * PaddleNLP's packed DPO layout: each pair is one segment {@code [prompt, chosen, rejected]}, and the
 * segments of a micro-batch are packed into rows of at most {@code max_seq_len} tokens.
 *
 * <ul>
 *   <li>The prompt is computed once per pair instead of once per sequence.
 *   <li>Branch ids 0 (prompt), 1 (chosen), 2 (rejected): with the segment ids, the in-graph mask lets
 *       chosen see the prompt and itself, rejected the prompt and itself but not chosen, and nothing
 *       see another segment ({@link dev.tfdpo.ops.AttentionMask}).
 *   <li>Positions: the prompt {@code 0..p-1}, chosen {@code p..p+c-1}, rejected {@code p..p+r-1}, as
 *       if chosen were not there; so every sequence sees exactly what it sees in its own padded row.
 *   <li>The prompt's last position predicts the first token of both completions: it appears twice in
 *       the prediction list, once per sequence.
 *   <li>Rows are filled first-fit (PaddleNLP's {@code greedy_zero_padding}): each segment goes into
 *       the first row with room, so data order is kept as far as the row length allows; or, not
 *       greedy, strictly in order (a new row whenever the next segment does not fit the last one).
 *   <li>Sequence numbering and prediction order are those of {@link Collator}: chosen of pair i is
 *       sequence i, rejected P+i, all chosen predictions first, so both layouts give the same
 *       per-sequence sums in the same order.
 * </ul>
 *
 * <p>Pairs must already fit ({@code prompt + chosen + rejected <= max_seq_len}): the data layer
 * truncates or drops longer ones by {@code truncation_mode} when packing is on.
 */
public final class Packer implements BatchBuilder {

  /** Branch ids of the three parts of a segment. */
  static final int PROMPT = 0;

  static final int CHOSEN = 1;
  static final int REJECTED = 2;

  private final int padId;
  private final int maxSeqLen;
  private final boolean greedy;
  private final ShapeBuckets buckets;

  /**
   * @param padId token id written on padding
   * @param maxSeqLen longest row
   * @param greedy first-fit instead of strictly in order
   * @param buckets rounding of the row length (capped at {@code maxSeqLen}) and prediction count
   */
  public Packer(int padId, int maxSeqLen, boolean greedy, ShapeBuckets buckets) {
    this.padId = padId;
    this.maxSeqLen = maxSeqLen;
    this.greedy = greedy;
    this.buckets = buckets;
  }

  /** Segment length of a pair in this layout: prompt + chosen + rejected. */
  public static int segmentLength(TokenizedPair pair) {
    return pair.promptIds().length + pair.chosenIds().length + pair.rejectedIds().length;
  }

  @Override
  public Batch build(List<TokenizedPair> pairs) {
    Layout layout = layout(pairs);
    int length = buckets.roundLength(layout.longest(), maxSeqLen);
    int rows = layout.rows();
    int[] ids = new int[rows * length];
    int[] positions = new int[rows * length];
    int[] segments = new int[rows * length];
    int[] branches = new int[rows * length];
    Arrays.fill(ids, padId);
    long real = 0;
    long inRows = 0;
    long[] indices = new long[pairs.size()];
    for (int i = 0; i < pairs.size(); i++) {
      TokenizedPair pair = pairs.get(i);
      indices[i] = pair.index();
      int start = layout.start(i, length);
      int prompt = pair.promptIds().length;
      int at = put(ids, positions, branches, start, pair.promptIds(), 0, PROMPT);
      at = put(ids, positions, branches, at, pair.chosenIds(), prompt, CHOSEN);
      put(ids, positions, branches, at, pair.rejectedIds(), prompt, REJECTED);
      Arrays.fill(segments, start, start + segmentLength(pair), i + 1);
      real += pair.tokens();
      inRows += segmentLength(pair);
    }
    Collator.Predictions out = predictions(pairs, layout, length);
    return new Batch(rows, length, ids, positions, segments, branches,
        out.positions, out.targets, out.sequences, pairs.size(), real, inRows, indices);
  }

  /**
   * Where each pair's segment goes.
   *
   * @param rowOf the row of pair i
   * @param startOf its first slot in that row
   * @param rows rows used
   * @param longest the fullest row's length
   * @param predictions completion tokens predicted (chosen and rejected, all pairs)
   */
  private record Layout(int[] rowOf, int[] startOf, int rows, int longest, int predictions) {
    int start(int pair, int length) {
      return rowOf[pair] * length + startOf[pair];
    }
  }

  private Layout layout(List<TokenizedPair> pairs) {
    int p = pairs.size();
    int[] rowOf = new int[p];
    int[] startOf = new int[p];
    List<int[]> fill = new ArrayList<>(); // one {used} cell per row
    int predictions = 0;
    for (int i = 0; i < p; i++) {
      TokenizedPair pair = pairs.get(i);
      int n = segmentLength(pair);
      if (n > maxSeqLen) {
        throw new IllegalArgumentException(
            "pair " + pair.index() + " has " + n + " tokens (prompt + chosen + rejected), over max_seq_len "
                + maxSeqLen + "; with packing the data must be loaded with the packed length rule");
      }
      int row = place(fill, n);
      rowOf[i] = row;
      startOf[i] = fill.get(row)[0];
      fill.get(row)[0] += n;
      predictions += Collator.counted(pair.promptIds().length, pair.chosenIds().length);
      predictions += Collator.counted(pair.promptIds().length, pair.rejectedIds().length);
    }
    int longest = fill.stream().mapToInt(f -> f[0]).max().orElse(0);
    return new Layout(rowOf, startOf, fill.size(), longest, predictions);
  }

  /** The completion predictions: every chosen sequence, then every rejected one (sequence p + i). */
  private Collator.Predictions predictions(List<TokenizedPair> pairs, Layout layout, int length) {
    int p = pairs.size();
    Collator.Predictions out = new Collator.Predictions(buckets.roundPredictions(layout.predictions()));
    for (int i = 0; i < p; i++) {
      TokenizedPair pair = pairs.get(i);
      int start = layout.start(i, length);
      int prompt = pair.promptIds().length;
      int[] chosen = pair.chosenIds();
      for (int j = prompt > 0 ? 0 : 1; j < chosen.length; j++) {
        out.add(start + prompt + j - 1, chosen[j], i);
      }
    }
    for (int i = 0; i < p; i++) {
      TokenizedPair pair = pairs.get(i);
      int start = layout.start(i, length);
      int prompt = pair.promptIds().length;
      int rejectedStart = start + prompt + pair.chosenIds().length;
      int[] rejected = pair.rejectedIds();
      if (prompt > 0) {
        // The first rejected token is predicted by the prompt's last position, not by chosen's end.
        out.add(start + prompt - 1, rejected[0], p + i);
      }
      for (int j = 1; j < rejected.length; j++) {
        out.add(rejectedStart + j - 1, rejected[j], p + i);
      }
    }
    out.fillRest();
    return out;
  }

  /** The row a segment of {@code n} tokens goes into, opening a new one when none has room. */
  private int place(List<int[]> fill, int n) {
    if (greedy) {
      for (int r = 0; r < fill.size(); r++) {
        if (fill.get(r)[0] + n <= maxSeqLen) {
          return r;
        }
      }
    } else if (!fill.isEmpty() && fill.get(fill.size() - 1)[0] + n <= maxSeqLen) {
      return fill.size() - 1;
    }
    fill.add(new int[1]);
    return fill.size() - 1;
  }

  /** Copies {@code tokens} at {@code at} with positions from {@code firstPosition}; returns the end. */
  private static int put(int[] ids, int[] positions, int[] branches, int at, int[] tokens, int firstPosition,
      int branch) {
    System.arraycopy(tokens, 0, ids, at, tokens.length);
    for (int j = 0; j < tokens.length; j++) {
      positions[at + j] = firstPosition + j;
    }
    Arrays.fill(branches, at, at + tokens.length, branch);
    return at + tokens.length;
  }
}
