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
    float[] labels) implements MicroBatch {

  /** A batch without per-pair labels. */
  public Batch(int rows, int length, int[] inputIds, int[] positionIds, int[] segmentIds, int[] branchIds,
      int[] lossPositions, int[] lossTargets, int[] lossSequences, int numPairs, long realTokens, long rowTokens,
      long[] pairIndices) {
    this(rows, length, inputIds, positionIds, segmentIds, branchIds, lossPositions, lossTargets, lossSequences,
        numPairs, realTokens, rowTokens, pairIndices, null);
  }

  /** This batch with per-pair {@code labels} and the token count {@code realTokens}. */
  public Batch withLabels(float[] labels, long realTokens) {
    if (labels.length != numPairs) {
      throw new IllegalArgumentException(labels.length + " labels for " + numPairs + " pair slots");
    }
    return new Batch(rows, length, inputIds, positionIds, segmentIds, branchIds, lossPositions, lossTargets,
        lossSequences, numPairs, realTokens, rowTokens, pairIndices, labels);
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
