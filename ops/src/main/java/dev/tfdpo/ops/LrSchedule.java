package dev.tfdpo.ops;

/**
 * Learning-rate schedules with transformers' {@code LambdaLR} formulas. The rate used at optimizer
 * step k (1-based) is {@code peak * lambda(k - 1)}; that is also the logged rate.
 */
public enum LrSchedule {
  /** {@code s/W} during warmup, then {@code max(0, (T-s)/(T-W))}. */
  LINEAR("linear") {
    @Override
    double afterWarmup(long s, long total, long warmup) {
      return Math.max(0.0, (double) (total - s) / (double) Math.max(1, total - warmup));
    }
  },
  /** {@code s/W} during warmup, then half a cosine from 1 to 0. */
  COSINE("cosine") {
    @Override
    double afterWarmup(long s, long total, long warmup) {
      double progress = (double) (s - warmup) / (double) Math.max(1, total - warmup);
      return Math.max(0.0, 0.5 * (1.0 + Math.cos(Math.PI * 0.5 * 2.0 * progress)));
    }
  },
  /** Always 1; warmup is ignored, as in transformers. */
  CONSTANT("constant") {
    @Override
    double afterWarmup(long s, long total, long warmup) {
      return 1.0;
    }

    @Override
    public double lambda(long s, long total, long warmup) {
      return 1.0;
    }
  },
  /** {@code s/W} during warmup, then 1. */
  CONSTANT_WITH_WARMUP("constant_with_warmup") {
    @Override
    double afterWarmup(long s, long total, long warmup) {
      return 1.0;
    }
  };

  private final String configName;

  LrSchedule(String configName) {
    this.configName = configName;
  }

  abstract double afterWarmup(long s, long total, long warmup);

  /** The multiplier after {@code s} completed steps (s = 0 for the first step). */
  public double lambda(long s, long total, long warmup) {
    if (s < warmup) {
      return (double) s / (double) Math.max(1, warmup);
    }
    return afterWarmup(s, total, warmup);
  }

  /** The rate of optimizer step {@code step} (1-based). */
  public double rate(double peak, long step, long total, long warmup) {
    return peak * lambda(step - 1, total, warmup);
  }

  /** Warmup in steps: a value below 1 is a fraction of {@code total}, rounded up. */
  public static long warmupSteps(double configured, long total) {
    return configured < 1 ? (long) Math.ceil(configured * total) : (long) configured;
  }

  /** The names configs use ({@code lr_scheduler_type}), in declaration order. */
  public static java.util.List<String> configNames() {
    return java.util.Arrays.stream(values()).map(v -> v.configName).toList();
  }

  /** The schedule named {@code name} in configs. */
  public static LrSchedule fromName(String name) {
    for (LrSchedule s : values()) {
      if (s.configName.equals(name)) {
        return s;
      }
    }
    throw new IllegalArgumentException("unknown lr_scheduler_type '" + name + "'");
  }
}
