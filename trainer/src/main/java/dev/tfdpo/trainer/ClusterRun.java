package dev.tfdpo.trainer;

import dev.tfdpo.cli.Cli;
import dev.tfdpo.graphs.GrpcCluster;
import dev.tfdpo.graphs.Sessions;
import dev.tfdpo.trainer.config.ConfigException;
import dev.tfdpo.trainer.config.TfConfig;
import dev.tfdpo.trainer.config.TrainConfig;
import java.io.IOException;
import java.io.PrintStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.util.ArrayList;
import java.util.List;

/**
 * Training as one task of a gRPC cluster ({@code TF_CONFIG}, docs/distributed.md). Every task starts its
 * TensorFlow server and reads the data. Task 0, the chief, builds the training graph with replica k placed
 * on task k, draws the global micro-batches and alone writes the output directory; its session runs on its
 * own server, which hands each task its partition of the graph. The other tasks lay out their replica's
 * shard of every micro-batch from their own copy of the data ({@code BatchQueue}) and serve their
 * partitions (their replica's forward and backward pass and their side of the gradient all-reduce) until
 * the chief's server is gone, then exit.
 */
final class ClusterRun {

  /** How often a worker checks that the chief's server is still there, in milliseconds. */
  static final int PROBE_MS = 1000;

  /** Consecutive failed probes after which a worker takes the chief as gone. */
  static final int PROBES_LOST = 3;

  /**
   * Fault injection for the launcher's restart tests (docs/distributed.md, "Faults"): a worker (task >= 1)
   * started with this variable set to a path ends at once with {@link #FAULT_STATUS}, as a crash, when that
   * path exists, on its first start only ({@code TFDPO_RESTART_COUNT} unset or 0, set by the launcher).
   */
  static final String FAULT_ENV = "TFDPO_FAULT_EXIT_WHEN";

  /** The status of a worker ended by {@link #FAULT_ENV}. */
  static final int FAULT_STATUS = 3;

  /**
   * Fault injection for the hang tests: a task started with this variable set to a path stops its own
   * process ({@code kill -STOP}, as a hung or suspended machine) when that path exists, on its first start
   * only. Which task: {@link #FAULT_TASK_ENV}, else every task >= 1.
   */
  static final String STOP_ENV = "TFDPO_FAULT_STOP_WHEN";

  /** How often the test hooks look for their files. */
  private static final long HOOK_POLL_MS = 20;

  /** The task index the fault hooks apply to (unset: every task >= 1). */
  static final String FAULT_TASK_ENV = "TFDPO_FAULT_TASK";

  private ClusterRun() {}

  /** Refuses the keys that cannot go with {@code TF_CONFIG}. */
  static void check(TrainConfig config) {
    if (!config.devices().equals(List.of(""))) {
      throw new ConfigException("devices " + config.devices() + " and " + TfConfig.ENV
          + " together: with TF_CONFIG each task is one replica on its CPU; remove the devices key");
    }
    if (config.training().useXla()) {
      throw new ConfigException("use_xla with TF_CONFIG is not supported: the XLA CPU JIT does not compile "
          + "the replicas' collective ops; set use_xla false");
    }
  }

  /**
   * Runs this process's task; returns the exit status.
   *
   * @param config the config with {@code devices} set to the number of tasks (recorded for resume)
   */
  static int run(TrainConfig config, GrpcCluster cluster, PrintStream out, boolean terminal) throws IOException {
    cluster.start(Sessions.config(config.training().numThreads()));
    double timeoutS = config.training().collectiveTimeoutS();
    com.google.gson.JsonObject identity = ClusterWatch.publish(cluster, config);
    startFaultHooks(cluster.task(), out);
    if (cluster.chief()) {
      out.println(String.format("cluster: chief (task 0 of %d) at %s, workers %s", cluster.size(),
          cluster.target(), cluster.workers()));
      awaitWorkers(cluster, timeoutS);
      ClusterWatch.checkWorkers(cluster, identity, timeoutS);
      out.println("cluster: every worker's config and data files match the chief's");
      List<Integer> workers = new ArrayList<>();
      for (int k = 1; k < cluster.size(); k++) {
        workers.add(k);
      }
      ClusterWatch.watch(cluster, workers, timeoutS, out);
      DpoTrainer.run(config, out, terminal, cluster);
      return Cli.OK;
    }
    ClusterWatch.watch(cluster, List.of(0), timeoutS, out);
    DpoTrainer.serveBatches(config, cluster, out);
    // One println per line: TensorFlow's own log goes to stderr in between, into the same console.
    out.println(String.format("cluster: task %d of %d serving at %s for the chief at %s; the chief writes %s",
        cluster.task(), cluster.size(), cluster.workers().get(cluster.task()), cluster.workers().get(0),
        config.training().outputDir()));
    awaitChiefGone(cluster);
    out.println("cluster: the chief at " + cluster.workers().get(0) + " has gone; task " + cluster.task()
        + " exits");
    return Cli.OK;
  }

  /**
   * Waits until every other task's server accepts connections, at most {@code timeoutS} seconds (the
   * collective timeout: every wait across processes is bounded by it). TensorFlow's master would wait for
   * a missing worker forever, logging "CreateSession still waiting".
   *
   * @throws IllegalStateException naming the tasks that did not answer
   */
  static void awaitWorkers(GrpcCluster cluster, double timeoutS) {
    long deadline = System.nanoTime() + (long) (timeoutS * 1e9);
    List<Integer> missing = new ArrayList<>();
    for (int k = 1; k < cluster.size(); k++) {
      missing.add(k);
    }
    while (!missing.isEmpty()) {
      missing.removeIf(k -> reachable(address(cluster.workers().get(k))));
      if (missing.isEmpty()) {
        return;
      }
      if (System.nanoTime() > deadline) {
        List<String> names = missing.stream().map(k -> "task " + k + " at " + cluster.workers().get(k)).toList();
        throw new IllegalStateException(String.join(", ", names) + " did not answer within "
            + timeoutS + " s (collective_timeout_s): start every worker with its TF_CONFIG, check the "
            + "addresses and that the ports are open between the machines");
      }
      sleep();
    }
  }

  private static InetSocketAddress address(String hostPort) {
    int colon = hostPort.lastIndexOf(':');
    return new InetSocketAddress(hostPort.substring(0, colon), Integer.parseInt(hostPort.substring(colon + 1)));
  }

  private static boolean reachable(InetSocketAddress address) {
    try (Socket s = new Socket()) {
      s.connect(address, PROBE_MS);
      return true;
    } catch (IOException e) {
      return false;
    }
  }

  private static void sleep() {
    try {
      Thread.sleep(PROBE_MS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted while waiting for the cluster", e);
    }
  }

  /** The path in {@code variable} when the fault hooks apply to {@code task} on this start, else empty. */
  private static java.util.Optional<java.nio.file.Path> faultPath(String variable, int task) {
    String path = System.getenv(variable);
    String restart = System.getenv("TFDPO_RESTART_COUNT");
    String only = System.getenv(FAULT_TASK_ENV);
    boolean first = restart == null || restart.isEmpty() || restart.equals("0");
    boolean mine = only == null || only.isEmpty() ? task >= 1 : only.trim().equals(String.valueOf(task));
    return path == null || path.isEmpty() || !first || !mine ? java.util.Optional.empty()
        : java.util.Optional.of(java.nio.file.Path.of(path));
  }

  /** Starts the test hooks {@link #FAULT_ENV} and {@link #STOP_ENV} (a daemon thread), if set for this task. */
  private static void startFaultHooks(int task, PrintStream out) {
    java.util.Optional<java.nio.file.Path> exit = faultPath(FAULT_ENV, task);
    java.util.Optional<java.nio.file.Path> stop = faultPath(STOP_ENV, task);
    if (exit.isEmpty() && stop.isEmpty()) {
      return;
    }
    Thread hooks = new Thread(() -> {
      boolean stopped = false;
      while (true) {
        if (exit.filter(java.nio.file.Files::exists).isPresent()) {
          out.println("cluster: " + FAULT_ENV + " " + exit.get() + " exists; this task ends with status "
              + FAULT_STATUS);
          out.flush();
          Runtime.getRuntime().halt(FAULT_STATUS);
        }
        if (!stopped && stop.filter(java.nio.file.Files::exists).isPresent()) {
          stopped = true;
          out.println("cluster: " + STOP_ENV + " " + stop.get() + " exists; task " + task + " stops itself (SIGSTOP)");
          out.flush();
          try {
            new ProcessBuilder("kill", "-STOP", String.valueOf(ProcessHandle.current().pid())).start().waitFor();
          } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
          } catch (InterruptedException e) {
            return;
          }
        }
        try {
          // Often: a tiny test run's chief goes through a step in a tenth of a second, and a slow poll
          // let it finish the run before its stop.
          Thread.sleep(HOOK_POLL_MS);
        } catch (InterruptedException e) {
          return;
        }
      }
    }, "tfdpo-fault-hooks");
    hooks.setDaemon(true);
    hooks.start();
  }

  /**
   * Blocks until the chief's server, once seen, stops answering ({@link #PROBES_LOST} probes in a row):
   * TensorFlow's server has no "session done" signal for the tasks it does not run a session on. Seen: its
   * port answered, or it {@linkplain GrpcCluster#greet greeted} this task (a chief that refuses this task's
   * config may end before this task's first probe).
   */
  static void awaitChiefGone(GrpcCluster cluster) {
    InetSocketAddress address = address(cluster.workers().get(0));
    boolean seen = false;
    int lost = 0;
    while (!seen || lost < PROBES_LOST) {
      boolean up = reachable(address);
      seen = seen || up || cluster.greeted(ClusterWatch.PROBE);
      lost = up ? 0 : lost + 1;
      try {
        Thread.sleep(PROBE_MS);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        return;
      }
    }
  }
}
