package dev.tfdpo.ops;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;

/** Schedules against transformers' formulas, derived by hand. */
class LrScheduleTest {

  @Test
  void linearWithWarmupIsTrlsGoldenSequence() {
    // W = 2, T = 16, peak 5e-4: step 1 -> 0, step 2 -> 2.5e-4, step 3 -> 5e-4,
    // then 5e-4 * (16 - s) / 14 for s = k - 1: step 4 -> 5e-4 * 13/14, step 16 -> 5e-4 / 14.
    LrSchedule s = LrSchedule.LINEAR;
    assertEquals(0.0, s.rate(5e-4, 1, 16, 2), 0);
    assertEquals(2.5e-4, s.rate(5e-4, 2, 16, 2), 0);
    assertEquals(5e-4, s.rate(5e-4, 3, 16, 2), 0);
    assertEquals(5e-4 * (13.0 / 14.0), s.rate(5e-4, 4, 16, 2), 1e-18);
    assertEquals(5e-4 * (1.0 / 14.0), s.rate(5e-4, 16, 16, 2), 1e-18);
  }

  @Test
  void cosineGoesFromPeakToZeroThroughHalf() {
    LrSchedule s = LrSchedule.COSINE;
    assertEquals(1.0, s.lambda(0, 10, 0), 1e-15);
    assertEquals(0.5, s.lambda(5, 10, 0), 1e-15); // 0.5 * (1 + cos(pi/2))
    // progress = (s - W) / (T - W) = (3 - 1) / (10 - 1) = 2/9
    assertEquals(0.5 * (1 + Math.cos(Math.PI * 2.0 / 9.0)), s.lambda(3, 10, 1), 1e-15);
  }

  @Test
  void constantIgnoresWarmupAndConstantWithWarmupRamps() {
    assertEquals(1.0, LrSchedule.CONSTANT.lambda(0, 10, 5), 0);
    assertEquals(0.2, LrSchedule.CONSTANT_WITH_WARMUP.lambda(1, 10, 5), 1e-15);
    assertEquals(1.0, LrSchedule.CONSTANT_WITH_WARMUP.lambda(5, 10, 5), 0);
  }

  @Test
  void fractionalWarmupIsARatioRoundedUp() {
    assertEquals(2, LrSchedule.warmupSteps(0.1, 16)); // ceil(1.6)
    assertEquals(3, LrSchedule.warmupSteps(3, 16));
    assertEquals(0, LrSchedule.warmupSteps(0, 16));
  }
}
