package dev.tfdpo.trainer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;

class EpochSamplerTest {

  @Test
  void sequentialIsFileOrderEveryEpochWithASmallerLastBatch() {
    EpochSampler s = new EpochSampler(10, 4, false, 42);
    assertEquals(3, s.batchesPerEpoch());
    List<int[]> e0 = s.epoch(0);
    assertArrayEquals(new int[] {0, 1, 2, 3}, e0.get(0));
    assertArrayEquals(new int[] {8, 9}, e0.get(2));
    assertArrayEquals(e0.get(1), s.epoch(5).get(1));
  }

  @Test
  void randomIsAPermutationSeededPerEpochAndReproducible() {
    EpochSampler s = new EpochSampler(64, 8, true, 42);
    int[] e0 = flatten(s.epoch(0));
    int[] e1 = flatten(s.epoch(1));
    assertArrayEquals(e0, flatten(new EpochSampler(64, 8, true, 42).epoch(0)));
    assertFalse(Arrays.equals(e0, e1));
    int[] sorted = e0.clone();
    Arrays.sort(sorted);
    for (int i = 0; i < 64; i++) {
      assertEquals(i, sorted[i]);
    }
  }

  static int[] flatten(List<int[]> batches) {
    return batches.stream().flatMapToInt(Arrays::stream).toArray();
  }
}
