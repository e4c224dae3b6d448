package dev.tfdpo.graphs;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The load runs of {@link WeightLoader}'s quantized weights: fed {@link WeightLoader#RUN_BYTES} at a
 * time, in order, none left out or repeated, so the freed feeds TensorFlow's CPU pool keeps stay that
 * small (docs/memory.md, "Where the memory goes"). Float weights go one tensor per run.
 */
class WeightLoaderRunGroupsTest {

  @Test
  void cutsConsecutiveGroupsUnderTheLimit() {
    Map<String, Long> bytes = Map.of("a", 30L, "b", 30L, "c", 50L, "d", 10L, "e", 40L);
    List<List<String>> groups = WeightLoader.runGroups(List.of("a", "b", "c", "d", "e"), bytes::get, 64);
    assertEquals(List.of(List.of("a", "b"), List.of("c", "d"), List.of("e")), groups);
  }

  @Test
  void aTensorLargerThanTheLimitIsAGroupOfItsOwn() {
    Map<String, Long> bytes = Map.of("small", 10L, "embed", 113L, "tail", 5L);
    List<List<String>> groups = WeightLoader.runGroups(List.of("small", "embed", "tail"), bytes::get, 64);
    assertEquals(List.of(List.of("small"), List.of("embed"), List.of("tail")), groups);
  }

  @Test
  void theLimitIsSixtyFourMegabytes() {
    // At most 64 MiB of freed feeds (or the largest tensor) stay in the pool.
    assertEquals(64L << 20, WeightLoader.RUN_BYTES);
    assertEquals(List.of(), WeightLoader.runGroups(List.of(), n -> 1L, WeightLoader.RUN_BYTES));
  }
}
