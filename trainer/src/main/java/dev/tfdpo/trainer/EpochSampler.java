package dev.tfdpo.trainer;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;

/**
 * The order of pairs in each epoch, cut into micro-batches ({@code dataloader_drop_last = false}: the
 * last micro-batch of an epoch may be smaller).
 */
public final class EpochSampler {

  private final int size;
  private final int batchSize;
  private final boolean shuffle;
  private final long seed;

  /**
   * @param size number of pairs
   * @param batchSize pairs per micro-batch
   * @param shuffle random order per epoch (seeded by {@code seed + epoch}) instead of file order
   */
  public EpochSampler(int size, int batchSize, boolean shuffle, long seed) {
    this.size = size;
    this.batchSize = batchSize;
    this.shuffle = shuffle;
    this.seed = seed;
  }

  /** Micro-batches per epoch. */
  public int batchesPerEpoch() {
    return (size + batchSize - 1) / batchSize;
  }

  /** The micro-batches of epoch {@code epoch} (0-based), as data-set positions. */
  public List<int[]> epoch(int epoch) {
    int[] order = new int[size];
    for (int i = 0; i < size; i++) {
      order[i] = i;
    }
    if (shuffle) {
      Random random = new Random(seed + epoch);
      for (int i = size - 1; i > 0; i--) {
        int j = random.nextInt(i + 1);
        int t = order[i];
        order[i] = order[j];
        order[j] = t;
      }
    }
    List<int[]> batches = new ArrayList<>();
    for (int start = 0; start < size; start += batchSize) {
      int end = Math.min(size, start + batchSize);
      int[] b = new int[end - start];
      System.arraycopy(order, start, b, 0, b.length);
      batches.add(b);
    }
    return batches;
  }
}
