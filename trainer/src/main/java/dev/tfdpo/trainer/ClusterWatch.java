package dev.tfdpo.trainer;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.tfdpo.graphs.GrpcCluster;
import dev.tfdpo.trainer.config.ConfigException;
import dev.tfdpo.trainer.config.ConfigKey;
import dev.tfdpo.trainer.config.TrainConfig;
import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.tensorflow.proto.ConfigProto;

/**
 * What the tasks of a gRPC cluster check about each other (docs/distributed.md, "Faults"), over
 * TensorFlow itself: every task publishes its {@linkplain #identity identity} (its resolved config and
 * checksums of its data files) in its own server ({@link GrpcCluster#publish}); the chief compares every
 * worker's with its own before step 1 ({@link #checkWorkers}), and every task then reads the others'
 * periodically as a liveness probe ({@link #watch}): a task whose process is stopped or hung still accepts
 * TCP connections (the kernel does), but its TensorFlow server no longer answers.
 */
final class ClusterWatch {

  /** The exit status of a task that ends because another did not answer a probe: restartable (not 2). */
  static final int HUNG_STATUS = 4;

  /**
   * Keys each task may set for itself: where it writes (only the chief writes), its threads, how it was
   * started. Every other key must be the same on every task.
   */
  static final Set<ConfigKey> PER_TASK = EnumSet.of(ConfigKey.OUTPUT_DIR, ConfigKey.OVERWRITE_OUTPUT_DIR,
      ConfigKey.NUM_THREADS, ConfigKey.REPORT_TO, ConfigKey.RESUME_FROM_CHECKPOINT);

  /** The data files whose contents every task must see the same. */
  private static final List<ConfigKey> DATA = List.of(ConfigKey.TRAIN_DATASET_PATH, ConfigKey.DEV_DATASET_PATH);

  /** The member of an identity holding the data checksums. */
  private static final String FILES = "data files";

  /** The member of an identity holding the config. */
  private static final String CONFIG = "config";

  /** Probes use TensorFlow's defaults; {@link GrpcCluster#read} adds the device filter. */
  static final ConfigProto PROBE = ConfigProto.getDefaultInstance();

  private ClusterWatch() {}

  /**
   * This task's identity: its resolved config without the {@link #PER_TASK} keys, and for each data file
   * key, instead of its path, its contents' CRC-32C and size (a path that does not exist is "missing"; a directory, its files in
   * name order), so two machines with the data at different places still compare equal.
   */
  static JsonObject identity(TrainConfig config) throws IOException {
    JsonObject resolved = config.toJson();
    JsonObject keys = new JsonObject();
    for (ConfigKey key : ConfigKey.values()) {
      JsonElement value = resolved.get(key.jsonName());
      if (!PER_TASK.contains(key) && !DATA.contains(key) && value != null) {
        keys.add(key.jsonName(), value);
      }
    }
    JsonObject files = new JsonObject();
    for (ConfigKey key : DATA) {
      JsonElement path = resolved.get(key.jsonName());
      if (path != null && path.isJsonPrimitive() && !path.getAsString().isEmpty()) {
        files.addProperty(key.jsonName(), checksum(ProjectPaths.resolve(path.getAsString())));
      }
    }
    JsonObject identity = new JsonObject();
    identity.add(CONFIG, keys);
    identity.add(FILES, files);
    return identity;
  }

  /** {@code crc32c:HEX bytes:N} of a file or of a directory's files in name order; "missing" if absent. */
  static String checksum(Path path) throws IOException {
    if (!Files.exists(path)) {
      return "missing";
    }
    java.util.zip.CRC32C crc = new java.util.zip.CRC32C();
    long bytes = 0;
    List<Path> files;
    try (Stream<Path> walk = Files.isDirectory(path) ? Files.walk(path) : Stream.of(path)) {
      files = walk.filter(Files::isRegularFile).sorted().toList();
    }
    byte[] buffer = new byte[1 << 16];
    for (Path f : files) {
      try (InputStream in = Files.newInputStream(f)) {
        for (int n; (n = in.read(buffer)) > 0; bytes += n) {
          crc.update(buffer, 0, n);
        }
      }
    }
    return String.format("crc32c:%08x bytes:%d", crc.getValue(), bytes);
  }

  /** The differences of {@code other} from {@code own}, one line per key: {@code "  key: chief X, task K Y"}. */
  static List<String> differences(JsonObject own, JsonObject other, int task) {
    List<String> lines = new ArrayList<>();
    for (String part : List.of(CONFIG, FILES)) {
      JsonObject a = member(own, part);
      JsonObject b = member(other, part);
      Set<String> keys = new TreeSet<>(a.keySet());
      keys.addAll(b.keySet());
      for (String key : keys) {
        if (!java.util.Objects.equals(a.get(key), b.get(key))) {
          lines.add("  " + (part.equals(FILES) ? "contents of " : "") + key + ": chief " + a.get(key) + ", task "
              + task + " " + b.get(key));
        }
      }
    }
    return lines;
  }

  private static JsonObject member(JsonObject o, String name) {
    JsonElement e = o.get(name);
    return e != null && e.isJsonObject() ? e.getAsJsonObject() : new JsonObject();
  }

  /**
   * The chief's start-up check: reads every worker's identity (retrying while a worker has not published
   * it yet, at most {@code timeoutS} seconds in all) and refuses any difference from its own.
   *
   * @throws ConfigException naming the worker and the differing keys
   * @throws IllegalStateException naming the workers that did not publish in time
   */
  static void checkWorkers(GrpcCluster cluster, JsonObject own, double timeoutS) {
    long deadline = System.nanoTime() + (long) (timeoutS * 1e9);
    for (int k = 1; k < cluster.size(); k++) {
      JsonObject other = readIdentity(cluster, k, deadline, timeoutS);
      cluster.greet(k, PROBE);
      List<String> lines = differences(own, other, k);
      if (!lines.isEmpty()) {
        throw new ConfigException("worker task " + k + "'s config differs from the chief's (" + lines.size()
            + " key(s)):\n" + String.join("\n", lines) + "\nStart every worker with the same config, command-line"
            + " options and data (only " + PER_TASK.stream().map(ConfigKey::jsonName).toList()
            + " may differ per task)");
      }
    }
  }

  private static JsonObject readIdentity(GrpcCluster cluster, int k, long deadline, double timeoutS) {
    RuntimeException last = null;
    while (System.nanoTime() < deadline) {
      long left = Math.max(1, TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime()));
      try {
        java.util.Optional<String> text = cluster.readWithin(k, PROBE, left);
        if (text.isPresent()) {
          return JsonParser.parseString(text.get()).getAsJsonObject();
        }
      } catch (RuntimeException e) { // not published yet
        last = e;
      }
      sleep(200);
    }
    throw new IllegalStateException("worker task " + k + " (" + cluster.workers().get(k) + ") did not publish its"
        + " config within " + timeoutS + " s (collective_timeout_s)" + (last == null ? "" : ": " + last.getMessage()));
  }

  /**
   * Starts this task's watchdog, a daemon thread: every {@code timeoutS} seconds it probes each of
   * {@code tasks} ({@link GrpcCluster#readAsync}, all at once); a task whose server accepts connections but
   * does not answer within {@code timeoutS} seconds is hung or stopped, and this process prints which and
   * ends at once with {@link #HUNG_STATUS} ({@link Runtime#halt}: its session run may be blocked for good,
   * and TensorFlow's threads cannot be stopped). A task whose port is closed is gone, not hung: that is
   * left to the failing session run (the chief) or to the end-of-run probe (a worker). So a hang is noticed
   * at most about {@code 2 x timeoutS} after it began.
   */
  static Thread watch(GrpcCluster cluster, List<Integer> tasks, double timeoutS, PrintStream out) {
    long periodMs = Math.max(1, (long) (timeoutS * 1000));
    Thread t = new Thread(() -> {
      while (true) {
        sleep(periodMs);
        Map<Integer, CompletableFuture<String>> probes = new LinkedHashMap<>();
        for (int k : tasks) {
          probes.put(k, cluster.readAsync(k, PROBE));
        }
        long deadline = System.nanoTime() + periodMs * 1_000_000;
        List<Integer> silent = new ArrayList<>();
        for (var probe : probes.entrySet()) {
          try {
            probe.getValue().get(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
          } catch (java.util.concurrent.TimeoutException e) {
            if (listening(cluster.workers().get(probe.getKey()))) {
              silent.add(probe.getKey());
            }
          } catch (Exception e) { // it answered, with an error (gone, or nothing published yet)
          }
        }
        if (!silent.isEmpty()) {
          halt(out, silentMessage(cluster, silent, timeoutS));
        }
      }
    }, "tfdpo-cluster-watchdog");
    t.setDaemon(true);
    t.start();
    return t;
  }

  /** "worker task 1 (host:port) did not answer ..." or, for task 0, "the chief, task 0 (...), ...". */
  static String silentMessage(GrpcCluster cluster, List<Integer> silent, double timeoutS) {
    List<String> names = silent.stream().map(k -> (k == 0 ? "the chief, task 0 (" + cluster.workers().get(0) + "),"
        : "worker task " + k + " (" + cluster.workers().get(k) + ")")).toList();
    return String.join(" and ", names) + " did not answer within " + timeoutS + " s (collective_timeout_s): "
        + (silent.size() == 1 ? "it is" : "they are") + " hung or stopped; stopping (status " + HUNG_STATUS + ")";
  }

  private static void halt(PrintStream out, String message) {
    out.println("error: " + message);
    out.flush();
    System.out.flush();
    System.err.flush();
    Runtime.getRuntime().halt(HUNG_STATUS);
  }

  /** Whether something accepts connections at {@code hostPort} (a stopped process's server does). */
  static boolean listening(String hostPort) {
    int colon = hostPort.lastIndexOf(':');
    try (Socket s = new Socket()) {
      s.connect(new InetSocketAddress(hostPort.substring(0, colon), Integer.parseInt(hostPort.substring(colon + 1))),
          1000);
      return true;
    } catch (IOException e) {
      return false;
    }
  }

  private static void sleep(long ms) {
    try {
      Thread.sleep(ms);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted", e);
    }
  }

  /** Publishes this task's {@linkplain #identity identity} in its server and returns it. */
  static JsonObject publish(GrpcCluster cluster, TrainConfig config) throws IOException {
    JsonObject identity = identity(config);
    cluster.publish(identity.toString(), PROBE);
    return identity;
  }
}
