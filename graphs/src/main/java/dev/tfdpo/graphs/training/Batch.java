package dev.tfdpo.graphs.training;

/**
 * One micro-batch as the graph consumes it: row-major {@code [rows, length]} int arrays, the counted
 * predictions as three parallel vectors, and counts.
 *
 * <p>Sequence {@code s < numPairs} is pair s's chosen completion, {@code numPairs + s} its rejected one.
 * Prediction k says: flat position {@code lossPositions[k] = r * length + t} predicts token
 * {@code lossTargets[k]} of sequence {@code lossSequences[k]}; each sequence's predictions come in
 * completion order. A sequence of -1 marks a filler entry that counts nowhere (see the trainer's ShapeBuckets).
 *
 * @param rows R
 * @param length L
 * @param inputIds token ids, padding included
 * @param positionIds RoPE positions
 * @param segmentIds 0 on padding, else a per-row segment id
 * @param branchIds 0 on shared tokens, 1 chosen, 2 rejected (packed rows only)
 * @param lossPositions predicting positions {@code [Nc]}
 * @param lossTargets predicted token ids {@code [Nc]}
 * @param lossSequences sequence of each prediction {@code [Nc]}, -1 for fillers
 * @param numPairs P
 * @param realTokens tokens of the chosen and rejected sequences as TRL counts them (prompt + completion
 *     for each, so the prompt twice per pair), whatever the layout: throughput counts these
 * @param rowTokens non-padding tokens actually in the rows (a packed pair holds its prompt once)
 * @param pairIndices data-set positions of the pairs, in order
 * @param labels one value per pair slot {@code [P]} for objectives that read one (KTO: 1 desirable, 0
 *     undesirable); null for the others (the graph is fed zeros)
 * @param origin which examples the batch was laid out from, so that a task of a cluster can lay out the
 *     same batch from its own copy of the data ({@link BatchQueue}); null when unknown
 */
public record Batch(
    int rows,
    int length,
    int[] inputIds,
    int[] positionIds,
    int[] segmentIds,
    int[] branchIds,
    int[] lossPositions,
    int[] lossTargets,
    int[] lossSequences,
    int numPairs,
    long realTokens,
    long rowTokens,
    long[] pairIndices,
    float[] labels,
    Origin origin) implements MicroBatch {

  /**
   * Where a batch comes from: the data set ({@link #TRAIN} or {@link #DEV}) and the positions in it, in
   * order. The same objective, config and data lay out the same batch from these anywhere.
   *
   * @param set {@link #TRAIN} or {@link #DEV}
   * @param positions data-set positions (not file rows: filtering may drop rows)
   */
  public record Origin(int set, int[] positions) {

    /** The training set. */
    public static final int TRAIN = 0;

    /** The evaluation set. */
    public static final int DEV = 1;

    public Origin {
      if (set != TRAIN && set != DEV) {
        throw new IllegalArgumentException("data set " + set + " is neither TRAIN (0) nor DEV (1)");
      }
    }

    /** As one int vector: the set, then the positions (what {@link BatchQueue} sends). */
    public int[] encode() {
      int[] v = new int[positions.length + 1];
      v[0] = set;
      System.arraycopy(positions, 0, v, 1, positions.length);
      return v;
    }

    /** The inverse of {@link #encode}. */
    public static Origin decode(int[] v) {
      return new Origin(v[0], java.util.Arrays.copyOfRange(v, 1, v.length));
    }
  }

  /** A batch without per-pair labels. */
  public Batch(int rows, int length, int[] inputIds, int[] positionIds, int[] segmentIds, int[] branchIds,
      int[] lossPositions, int[] lossTargets, int[] lossSequences, int numPairs, long realTokens, long rowTokens,
      long[] pairIndices) {
    this(rows, length, inputIds, positionIds, segmentIds, branchIds, lossPositions, lossTargets, lossSequences,
        numPairs, realTokens, rowTokens, pairIndices, null, null);
  }

  /** This batch with per-pair {@code labels} and the token count {@code realTokens}. */
  public Batch withLabels(float[] labels, long realTokens) {
    if (labels.length != numPairs) {
      throw new IllegalArgumentException(labels.length + " labels for " + numPairs + " pair slots");
    }
    return new Batch(rows, length, inputIds, positionIds, segmentIds, branchIds, lossPositions, lossTargets,
        lossSequences, numPairs, realTokens, rowTokens, pairIndices, labels, origin);
  }

  /**
   * A batch's counts and origin without its tensors, for a shard that another task lays out from its own
   * copy of the data ({@link BatchQueue}): what the loop reads of it (pairs, tokens, rows, labels, the
   * sequence of each counted prediction for the token-weighted metrics) and what that task needs to lay it
   * out (the origin). No rows: it cannot be fed.
   *
   * @param lossSequences the sequence of each counted prediction, as the laid-out batch's (any order)
   */
  public static Batch header(int numPairs, long realTokens, long[] pairIndices, float[] labels, int[] lossSequences,
      Origin origin) {
    int[] none = new int[0];
    return new Batch(0, 0, none, none, none, none, none, none, lossSequences, numPairs, realTokens, 0, pairIndices,
        labels, origin);
  }

  /** Whether this is a {@link #header}: counts without tensors. */
  public boolean isHeader() {
    return rows == 0 && numPairs > 0;
  }

  /** This batch, laid out from {@code origin}. */
  public Batch withOrigin(Origin origin) {
    return new Batch(rows, length, inputIds, positionIds, segmentIds, branchIds, lossPositions, lossTargets,
        lossSequences, numPairs, realTokens, rowTokens, pairIndices, labels, origin);
  }

  /** Shape {@code [rows, length]} of every per-token array. */
  public long[] shape() {
    return new long[] {rows, length};
  }

  /** Token slots of the rows, {@code rows * length}. */
  public long slots() {
    return (long) rows * length;
  }

  /** Fraction of the row slots holding padding. */
  public double paddingFraction() {
    return 1.0 - (double) rowTokens / slots();
  }
}
