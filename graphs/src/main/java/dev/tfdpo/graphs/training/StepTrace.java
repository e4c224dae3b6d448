package dev.tfdpo.graphs.training;

import com.google.gson.Gson;
import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.tensorflow.Session;
import org.tensorflow.proto.AllocatorMemoryUsed;
import org.tensorflow.proto.DeviceStepStats;
import org.tensorflow.proto.NodeExecStats;
import org.tensorflow.proto.RunMetadata;
import org.tensorflow.proto.RunOptions;

/**
 * One optimizer step's session runs traced by TensorFlow ({@code RunOptions.TraceLevel.FULL_TRACE}, the
 * {@code profile_step} key): every kernel's start, duration, thread and device, as TensorFlow's executor
 * records them. {@link #write} turns them into a Chrome trace (chrome://tracing, Perfetto) and a table of
 * time by operation type, the profile docs/packing-and-performance.md reads.
 *
 * <p>A training graph routes its step's runs through {@link #run} while a trace is set; with none set
 * that is a plain {@code runner.run()}. Tracing slows the step (the executor records per kernel), so the
 * traced step's time is not a measurement of the step.
 */
public final class StepTrace {

  /**
   * One kernel execution.
   *
   * @param bytesInUse each allocator's bytes in use when the kernel ended, by allocator name (TensorFlow's
   *     {@code AllocatorMemoryUsed.allocator_bytes_in_use}; only the allocators the kernel used)
   * @param allocated bytes the kernel allocated, outputs and temporaries ({@code total_bytes}, summed over
   *     allocators)
   */
  record Kernel(String device, String name, String type, String label, long startMicros, long micros, int thread,
      Map<String, Long> bytesInUse, long allocated) {}

  private final List<RunMetadata> runs = new ArrayList<>();
  private long wallNanos;

  /**
   * {@code runner.run()}, traced into {@code trace} when it is not null.
   *
   * @param options options the caller sets anyway (null: none); the trace level is added to them
   */
  static org.tensorflow.Result run(StepTrace trace, Session.Runner runner, RunOptions options) {
    if (trace == null) {
      if (options != null) {
        runner.setOptions(options);
        return runner.runAndFetchMetadata();
      }
      return runner.run();
    }
    RunOptions.Builder traced = options == null ? RunOptions.newBuilder() : options.toBuilder();
    runner.setOptions(traced.setTraceLevel(RunOptions.TraceLevel.FULL_TRACE).build());
    long start = System.nanoTime();
    org.tensorflow.Result result = runner.runAndFetchMetadata();
    trace.add(result.getMetadata().orElseThrow(
        () -> new IllegalStateException("TensorFlow returned no metadata for a traced run")), System.nanoTime() - start);
    return result;
  }

  /** Adds one traced run's metadata and its wall time. */
  void add(RunMetadata run, long nanos) {
    runs.add(run);
    wallNanos += nanos;
  }

  /** {@link #run} without options of the caller's own. */
  static org.tensorflow.Result run(StepTrace trace, Session.Runner runner) {
    return run(trace, runner, null);
  }

  /** The session runs traced so far. */
  public int runs() {
    return runs.size();
  }

  /** Every kernel of the traced runs, in the order TensorFlow listed them. */
  List<Kernel> kernels() {
    return runs.stream().flatMap(run -> kernels(run).stream()).toList();
  }

  /** The kernels of one traced run. */
  private static List<Kernel> kernels(RunMetadata run) {
    List<Kernel> out = new ArrayList<>();
    for (DeviceStepStats device : run.getStepStats().getDevStatsList()) {
      for (NodeExecStats node : device.getNodeStatsList()) {
        Map<String, Long> inUse = new LinkedHashMap<>();
        long allocated = 0;
        for (AllocatorMemoryUsed m : node.getMemoryList()) {
          inUse.put(device.getDevice() + " " + m.getAllocatorName(), m.getAllocatorBytesInUse());
          allocated += m.getTotalBytes();
        }
        out.add(new Kernel(device.getDevice(), node.getNodeName(), type(node), node.getTimelineLabel(),
            node.getAllStartMicros(), node.getAllEndRelMicros(), node.getThreadId(), inUse, allocated));
      }
    }
    return out;
  }

  /**
   * The operation type from TensorFlow's timeline label {@code "name = Type(inputs)"}; the node name when
   * there is no label (the executor's own {@code _SOURCE} and the like).
   */
  static String type(NodeExecStats node) {
    String label = node.getTimelineLabel();
    int eq = label.indexOf(" = ");
    if (eq < 0) {
      return node.getNodeName();
    }
    int paren = label.indexOf('(', eq);
    return label.substring(eq + 3, paren < 0 ? label.length() : paren).trim();
  }

  /** Time by operation type: kernels, summed microseconds, in descending order of time. */
  record TypeTime(String type, int kernels, long micros) {}

  /** The kernels' summed time per operation type, largest first. */
  List<TypeTime> byType() {
    Map<String, long[]> sums = new LinkedHashMap<>();
    for (Kernel k : kernels()) {
      long[] s = sums.computeIfAbsent(k.type(), t -> new long[2]);
      s[0]++;
      s[1] += k.micros();
    }
    List<TypeTime> out = new ArrayList<>();
    sums.forEach((type, s) -> out.add(new TypeTime(type, (int) s[0], s[1])));
    out.sort(Comparator.comparingLong(TypeTime::micros).reversed().thenComparing(TypeTime::type));
    return out;
  }

  /**
   * The most bytes TensorFlow's allocators held at once while the step ran: kernels in order of their end,
   * each allocator's latest reported bytes in use summed. With the kernel that reported it.
   */
  record MemoryPeak(long bytes, Kernel at) {}

  /** {@link MemoryPeak} of the traced runs (each run separately; the largest); null when none reported memory. */
  MemoryPeak memoryPeak() {
    MemoryPeak peak = null;
    for (RunMetadata traced : runs) {
      Map<String, Long> latest = new LinkedHashMap<>();
      List<Kernel> ordered = new ArrayList<>(kernels(traced));
      ordered.sort(Comparator.comparingLong(k -> k.startMicros() + k.micros()));
      for (Kernel k : ordered) {
        if (k.bytesInUse().isEmpty()) {
          continue;
        }
        latest.putAll(k.bytesInUse());
        long total = latest.values().stream().mapToLong(Long::longValue).sum();
        if (peak == null || total > peak.bytes()) {
          peak = new MemoryPeak(total, k);
        }
      }
    }
    return peak;
  }

  /**
   * Writes {@code step-N.trace.json} (Chrome trace events: one process per device, one row per thread)
   * and {@code step-N.ops.txt} (time by operation type) into {@code dir}; returns the table's lines.
   */
  public List<String> write(Path dir, long step) throws IOException {
    Files.createDirectories(dir);
    Files.writeString(dir.resolve("step-" + step + ".trace.json"), chromeTrace(), StandardCharsets.UTF_8);
    List<String> table = table(step);
    Files.write(dir.resolve("step-" + step + ".ops.txt"), table, StandardCharsets.UTF_8);
    return table;
  }

  private String chromeTrace() {
    List<Kernel> kernels = kernels();
    long origin = kernels.stream().mapToLong(Kernel::startMicros).min().orElse(0);
    Map<String, Integer> devices = new LinkedHashMap<>();
    JsonArray events = new JsonArray();
    for (Kernel k : kernels) {
      int pid = devices.computeIfAbsent(k.device(), d -> devices.size());
      JsonObject e = new JsonObject();
      e.addProperty("name", k.name());
      e.addProperty("cat", k.type());
      e.addProperty("ph", "X");
      e.addProperty("ts", k.startMicros() - origin);
      e.addProperty("dur", k.micros());
      e.addProperty("pid", pid);
      e.addProperty("tid", k.thread());
      JsonObject args = new JsonObject();
      args.addProperty("op", k.type());
      args.addProperty("label", k.label()); // "name = Type(inputs)"
      args.addProperty("allocated_bytes", k.allocated());
      e.add("args", args);
      events.add(e);
      if (!k.bytesInUse().isEmpty()) { // a counter track: the allocators' bytes in use over time
        JsonObject c = new JsonObject();
        c.addProperty("name", "bytes in use");
        c.addProperty("ph", "C");
        c.addProperty("ts", k.startMicros() + k.micros() - origin);
        c.addProperty("pid", pid);
        JsonObject values = new JsonObject();
        k.bytesInUse().forEach((allocator, bytes) -> values.addProperty(allocator.substring(allocator.lastIndexOf(' ') + 1), bytes));
        c.add("args", values);
        events.add(c);
      }
    }
    devices.forEach((name, pid) -> {
      JsonObject m = new JsonObject();
      m.addProperty("name", "process_name");
      m.addProperty("ph", "M");
      m.addProperty("pid", pid);
      JsonObject args = new JsonObject();
      args.addProperty("name", name);
      m.add("args", args);
      events.add(m);
    });
    JsonObject trace = new JsonObject();
    trace.add("traceEvents", events);
    trace.addProperty("displayTimeUnit", "ms");
    return new Gson().toJson(trace);
  }

  private List<String> table(long step) {
    List<TypeTime> types = byType();
    long total = types.stream().mapToLong(TypeTime::micros).sum();
    List<String> lines = new ArrayList<>();
    lines.add(String.format(Locale.ROOT, "profile of step %d: %d session run(s), %.3f s wall while traced, "
        + "%.3f s of kernel time summed over threads", step, runs.size(), wallNanos / 1e9, total / 1e6));
    MemoryPeak peak = memoryPeak();
    if (peak != null) {
      lines.add(String.format(Locale.ROOT, "allocators' peak: %.1f MB in use after %s (%s)", peak.bytes() / 1e6,
          peak.at().name(), peak.at().type()));
    }
    lines.add(String.format(Locale.ROOT, "%-40s %8s %10s %7s", "op type", "kernels", "ms", "share"));
    for (TypeTime t : types) {
      lines.add(String.format(Locale.ROOT, "%-40s %8d %10.1f %6.1f%%", t.type(), t.kernels(), t.micros() / 1e3,
          total == 0 ? 0 : 100.0 * t.micros() / total));
    }
    return lines;
  }
}
