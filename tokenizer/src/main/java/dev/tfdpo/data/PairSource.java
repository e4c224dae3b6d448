package dev.tfdpo.data;

/**
 * Random access to the tokenized pairs of a data set, in data-set order.
 *
 * <p>Samplers need the size and random access; implementations may hold the pairs in memory or read
 * them from a memory-mapped preprocessed file.
 */
public interface PairSource {

  /** Number of pairs. */
  int size();

  /** The pair at {@code position} (0-based, below {@link #size()}). */
  TokenizedPair get(int position);
}
