package dev.tfdpo.graphs.training;

import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Where the replicas of a data-parallel training graph run, in one process: one replica per device,
 * each with its own forward and backward pass over its shard of the micro-batch and its own gradient
 * accumulators, the gradients summed across replicas by {@code CollectiveReduceV2} once per optimizer
 * step ({@link GradientAllReduce}). The weights and AdamW state are held once, on the first device, unless
 * the replicas hold their own copies ({@link #ownCopies}).
 *
 * @param devices full TensorFlow device names, {@code /device:CPU:0} style, one per replica; one device
 *     and no name (the empty string) is the plain single-device graph
 * @param bucketBytes gradients are concatenated into all-reduce buckets of about this many bytes
 * @param timeoutSeconds timeout of every collective: a replica that never joins fails the step with
 *     {@code DEADLINE_EXCEEDED} instead of hanging (TensorFlow's default of 0 waits forever)
 * @param target the session's target: empty in one process; {@code grpc://host:port} of this process's
 *     TensorFlow server when the replicas are the tasks of a gRPC cluster (devices
 *     {@code /job:worker/replica:0/task:K/device:CPU:0}, {@link dev.tfdpo.graphs.GrpcCluster})
 * @param shardOptimizer ZeRO-1 / PaddleNLP {@code sharding: stage1}: each replica's device holds and
 *     updates the AdamW moments of about 1/N of the weights ({@link OptimizerSharding})
 * @param ownCopies whether each further replica holds its own copies of the weights it reads (and, with
 *     full fine-tuning and no sharded optimizer, updates its own copy with its own AdamW moments, as DDP
 *     does) instead of reading the first device's: by default for the tasks of a gRPC cluster and for
 *     GPUs, whose memory is their own; CPU devices of one process share one memory, where a copy costs
 *     RAM and saves nothing
 */
public record Replication(List<String> devices, long bucketBytes, float timeoutSeconds, String target,
    boolean shardOptimizer, boolean ownCopies) {

  /** Default all-reduce bucket size, 4 MB (PyTorch DDP's first bucket is 1 MB, later ones 25 MB). */
  public static final long DEFAULT_BUCKET_BYTES = 4L << 20;

  /** Default collective timeout, in seconds. */
  public static final float DEFAULT_TIMEOUT_SECONDS = 300f;

  private static final Pattern NAME = Pattern.compile("/device:(CPU|GPU):(\\d+)");

  /** A replica on a task of a gRPC cluster. */
  private static final Pattern TASK = Pattern.compile("/job:worker/replica:0/task:(\\d+)/device:(CPU|GPU):(\\d+)");

  /** Checks the combination. */
  public Replication {
    devices = List.copyOf(devices);
    if (devices.isEmpty()) {
      throw new IllegalArgumentException("replication needs at least one device");
    }
    boolean remote = !target.isEmpty();
    Pattern form = remote ? TASK : NAME;
    if (!(devices.size() == 1 && devices.get(0).isEmpty())
        && !devices.stream().allMatch(d -> form.matcher(d).matches())) {
      throw new IllegalArgumentException("devices must be full names like "
          + (remote ? "/job:worker/replica:0/task:1/device:CPU:0" : "/device:GPU:0") + ", got " + devices);
    }
    if (remote && !target.startsWith("grpc://")) {
      throw new IllegalArgumentException("a session target is grpc://host:port, got " + target);
    }
    if (devices.stream().map(d -> d.replaceAll("^.*device:|:\\d+$", "")).distinct().count() > 1) {
      throw new IllegalArgumentException("replicas must all be CPUs or all GPUs, got " + devices);
    }
    if (devices.stream().distinct().count() != devices.size()) {
      throw new IllegalArgumentException("each replica needs its own device, got " + devices);
    }
    if (bucketBytes <= 0) {
      throw new IllegalArgumentException("bucket size must be positive, got " + bucketBytes);
    }
    if (!(timeoutSeconds > 0)) {
      throw new IllegalArgumentException("collective timeout must be positive, got " + timeoutSeconds);
    }
    if (shardOptimizer && devices.size() == 1) {
      throw new IllegalArgumentException("sharding stage1 splits the optimizer state across replicas, but there "
          + "is only one; set devices to 2 or more (or run with several workers), or set sharding to \"\"");
    }
  }

  /** Replicas with their own copies where they have their own memory ({@link #ownCopies}). */
  public Replication(
      List<String> devices, long bucketBytes, float timeoutSeconds, String target, boolean shardOptimizer) {
    this(devices, bucketBytes, timeoutSeconds, target, shardOptimizer, !target.isEmpty() || gpus(devices));
  }

  /** Replicas, the optimizer state unsharded. */
  public Replication(List<String> devices, long bucketBytes, float timeoutSeconds, String target) {
    this(devices, bucketBytes, timeoutSeconds, target, false);
  }

  /** The same replicas with the AdamW moments sharded across their devices (or not). */
  public Replication withShardedOptimizer(boolean sharded) {
    return new Replication(devices, bucketBytes, timeoutSeconds, target, sharded, ownCopies);
  }

  /** The same replicas, each with its own copies of the weights or not ({@link #ownCopies}). */
  public Replication withOwnCopies(boolean own) {
    return new Replication(devices, bucketBytes, timeoutSeconds, target, shardOptimizer, own);
  }

  /** Replicas on the devices of this process (no session target). */
  public Replication(List<String> devices, long bucketBytes, float timeoutSeconds) {
    this(devices, bucketBytes, timeoutSeconds, "");
  }

  /** One replica, no explicit device: the graph as it was before replicas. */
  public static Replication single() {
    return new Replication(List.of(""), DEFAULT_BUCKET_BYTES, DEFAULT_TIMEOUT_SECONDS);
  }

  /** {@code n} replicas on CPU:0 .. CPU:n-1 (virtual CPU devices, see {@link #cpuDevices}); 1 is {@link #single}. */
  public static Replication cpus(int n) {
    if (n == 1) {
      return single();
    }
    List<String> names = new ArrayList<>();
    for (int k = 0; k < n; k++) {
      names.add("/device:CPU:" + k);
    }
    return new Replication(names, DEFAULT_BUCKET_BYTES, DEFAULT_TIMEOUT_SECONDS);
  }

  /** Number of replicas. */
  public int replicas() {
    return devices.size();
  }

  /** Whether the replicas are the tasks of a gRPC cluster, the session on this process's server. */
  public boolean remote() {
    return !target.isEmpty();
  }

  /** Whether the replicas are GPUs (the collectives then use NCCL). */
  public boolean onGpus() {
    return gpus(devices);
  }

  private static boolean gpus(List<String> devices) {
    return devices.get(0).contains("GPU");
  }

  /**
   * How many CPU devices the session must expose: one past the highest CPU index used (TensorFlow makes
   * them virtual devices of one process), or 0 when no CPU device is named.
   */
  public int cpuDevices() {
    int n = 0;
    for (String d : remote() ? List.<String>of() : devices) {
      Matcher m = NAME.matcher(d);
      if (m.matches() && m.group(1).equals("CPU")) {
        n = Math.max(n, Integer.parseInt(m.group(2)) + 1);
      }
    }
    return n;
  }

  /** The collectives' {@code communication_hint}: NCCL between GPUs, ring between CPU devices. */
  public String communicationHint() {
    return onGpus() ? "nccl" : "ring";
  }
}
