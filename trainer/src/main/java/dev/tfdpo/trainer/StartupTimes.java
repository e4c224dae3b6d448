package dev.tfdpo.trainer;

import java.lang.management.ManagementFactory;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Where the time before the first optimizer step goes, for the run log and the benchmark: the process
 * up to the graph (JVM, data, tokenizer, a reference precompute pass), building the graph (its
 * TensorFlow session is created at the end, but TensorFlow only receives the graph at the first run),
 * loading the weights (the first run: the graph goes to the session, and the load ops get their
 * executor) and step 1 (Grappler, executors and kernel set-up of the step's three runs, plus the step's
 * own compute).
 */
public final class StartupTimes {

  private final Map<String, Double> seconds = new LinkedHashMap<>();
  private final Map<String, Double> cpuSeconds = new LinkedHashMap<>();
  private long last;
  private long lastCpu;
  private boolean reported;

  private StartupTimes() {
    last = System.nanoTime();
    lastCpu = processCpuNanos();
    seconds.put("before_graph_s", ManagementFactory.getRuntimeMXBean().getUptime() / 1e3);
    cpuSeconds.put("before_graph_s", lastCpu / 1e9);
  }

  /** CPU time of every thread of the process (Java and TensorFlow's), or 0 where not available. */
  static long processCpuNanos() {
    return ManagementFactory.getOperatingSystemMXBean() instanceof com.sun.management.OperatingSystemMXBean os
        ? os.getProcessCpuTime() : 0;
  }

  /** Starts the clock: the phases before now count as {@code before_graph_s} (JVM uptime). */
  public static StartupTimes start() {
    return new StartupTimes();
  }

  /** Ends phase {@code name} (a key ending in {@code _s}) now. */
  public void mark(String name) {
    long now = System.nanoTime();
    long cpu = processCpuNanos();
    seconds.put(name, (now - last) / 1e9);
    cpuSeconds.put(name, (cpu - lastCpu) / 1e9);
    last = now;
    lastCpu = cpu;
  }

  /**
   * After each step: the first step of this process records its time and returns the split as one log
   * line; later steps return null.
   */
  public String firstStep(double stepSeconds) {
    if (reported) {
      return null;
    }
    reported = true;
    seconds.put("first_step_s", stepSeconds);
    cpuSeconds.put("first_step_s", (processCpuNanos() - lastCpu) / 1e9);
    return format();
  }

  /** Wall seconds of the phases so far, in phase order. */
  public Map<String, Double> seconds() {
    return Collections.unmodifiableMap(new LinkedHashMap<>(seconds));
  }

  /** Process CPU seconds of the phases so far (all threads; on a shared machine steadier than wall time). */
  public Map<String, Double> cpuSeconds() {
    return Collections.unmodifiableMap(new LinkedHashMap<>(cpuSeconds));
  }

  /** One log line. */
  public String format() {
    StringBuilder b = new StringBuilder("start-up (wall / CPU):");
    double total = 0;
    double totalCpu = 0;
    for (Map.Entry<String, Double> e : seconds.entrySet()) {
      double cpu = cpuSeconds.getOrDefault(e.getKey(), 0.0);
      total += e.getValue();
      totalCpu += cpu;
      String phase = e.getKey().replaceAll("_s$", "").replace('_', ' ');
      b.append(String.format(" %s %.1f / %.1f s,", phase, e.getValue(), cpu));
    }
    return b.append(String.format(" total %.1f / %.1f s", total, totalCpu)).toString();
  }
}
