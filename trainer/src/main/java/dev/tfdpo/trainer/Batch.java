package dev.tfdpo.trainer;

/**
 * One micro-batch as the graph consumes it: row-major {@code [rows, length]} int arrays plus counts.
 *
 * <p>Sequence {@code s < numPairs} is pair s's chosen completion, {@code numPairs + s} its rejected one;
 * {@code lossSeq[r, t]} names the sequence whose completion token {@code t+1} position t predicts, or -1.
 *
 * @param rows R
 * @param length L
 * @param inputIds token ids, padding included
 * @param positionIds RoPE positions
 * @param segmentIds 0 on padding, else a per-row segment id
 * @param branchIds 0 on shared tokens, 1 chosen, 2 rejected (packed rows only)
 * @param lossSeq as above
 * @param numPairs P
 * @param realTokens non-padding tokens of the rows (throughput counts these)
 * @param pairIndices data-set positions of the pairs, in order
 */
public record Batch(
    int rows,
    int length,
    int[] inputIds,
    int[] positionIds,
    int[] segmentIds,
    int[] branchIds,
    int[] lossSeq,
    int numPairs,
    long realTokens,
    long[] pairIndices) {

  /** Shape {@code [rows, length]} of every per-token array. */
  public long[] shape() {
    return new long[] {rows, length};
  }
}
