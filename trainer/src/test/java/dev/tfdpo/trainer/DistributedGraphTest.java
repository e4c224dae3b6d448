package dev.tfdpo.trainer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tfdpo.graphs.GrpcCluster;
import dev.tfdpo.graphs.Sessions;
import dev.tfdpo.graphs.training.Batch;
import dev.tfdpo.graphs.training.DpoGraph;
import dev.tfdpo.graphs.training.Replication;
import dev.tfdpo.io.hf.LlamaConfig;
import dev.tfdpo.io.safetensors.SafeTensorsReader;
import dev.tfdpo.ops.AdamW;
import dev.tfdpo.ops.LossSpec;
import dev.tfdpo.trainer.config.TrainConfig;
import java.io.IOException;
import java.net.ServerSocket;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.tensorflow.GraphOperation;

/**
 * Two processes over TensorFlow's gRPC runtime: this JVM is task 0 (the chief, its session on its own
 * server), a second JVM started with {@code TF_CONFIG} index 1 ({@code TrainMain}, as {@code scripts/train.sh
 * --nproc_per_node 2} starts it) serves replica 1. The same training graph with replica k on task k
 * must train exactly as two replicas on two virtual CPU devices of one process
 * ({@link DataParallelGraphTest}, which compares that with one device).
 */
class DistributedGraphTest {

  static DpoGraph inProcess;
  static DpoGraph twoTasks;
  /** The pair of {@link #shardedTasksTrainBitwiseAsUnshardedInProcess}: fresh, unsharded in one process. */
  static DpoGraph inProcessB;
  /** 2 tasks with {@code sharding stage1}: each task holds and updates its half of the AdamW moments. */
  static DpoGraph shardedTasks;
  static GrpcCluster cluster;
  static Process worker;
  /** The worker's training examples ({@code configs/default.json}'s data), laid out here as task 0 does. */
  static TrainingObjective.Examples<Batch> examples;
  @TempDir static Path start;

  @BeforeAll
  static void build() throws Exception {
    cluster = new GrpcCluster(List.of("127.0.0.1:" + freePort(), "127.0.0.1:" + freePort()), 0);
    worker = startWorker(cluster, 1, start.resolve("worker-output"));
    cluster.start(Sessions.config(2));
    LlamaConfig config = LlamaConfig.read(Golden.TINY);
    LossSpec sigmoid = LossSpec.builder("sigmoid").beta(0.1f).build();
    DpoGraph.Reference live = DpoGraph.Reference.live(config);
    inProcess = DpoGraph.build(DataParallelGraphTest.settings(config, sigmoid, live, Replication.cpus(2)));
    twoTasks = DpoGraph.build(DataParallelGraphTest.settings(config, sigmoid, live, new Replication(
        cluster.devices(), Replication.DEFAULT_BUCKET_BYTES, 60f, cluster.target())));
    inProcessB = DpoGraph.build(DataParallelGraphTest.settings(config, sigmoid, live, Replication.cpus(2)));
    shardedTasks = DpoGraph.build(DataParallelGraphTest.settings(config, sigmoid, live, new Replication(
        cluster.devices(), Replication.DEFAULT_BUCKET_BYTES, 60f, cluster.target(), true)));
    for (DpoGraph g : List.of(inProcess, twoTasks, inProcessB, shardedTasks)) {
      try (SafeTensorsReader w = SafeTensorsReader.open(Golden.TINY)) {
        g.policyLoader().load(g.session(), w);
        g.referenceLoader().load(g.session(), w);
      }
    }
    examples = workerExamples();
    inProcessB.saveState(start.resolve("state"));
  }

  /** The examples of {@link #startWorker}'s config, as the trainer's chief lays them out. */
  static TrainingObjective.Examples<Batch> workerExamples() throws IOException {
    return examplesOf("configs/default.json", List.of());
  }

  /** The training examples of {@code config} with {@code overrides}, through the trainer's objective. */
  @SuppressWarnings("unchecked")
  static TrainingObjective.Examples<Batch> examplesOf(String file, List<String> overrides) throws IOException {
    TrainConfig config = TrainConfig.load(Golden.ROOT.resolve(file), overrides);
    Path modelDir = ProjectPaths.resolve(config.model().modelNameOrPath());
    TrainingObjective<Batch> objective =
        (TrainingObjective<Batch>) TrainingObjectives.forConfig(config, modelDir, LlamaConfig.read(modelDir));
    objective.load(System.out);
    return objective.train();
  }

  /** A free local port (bound, then released for the server to take). */
  static int freePort() throws IOException {
    try (ServerSocket s = new ServerSocket(0)) {
      return s.getLocalPort();
    }
  }

  /** Task {@code task} of {@code cluster} as its own JVM: {@code TrainMain configs/default.json} with TF_CONFIG. */
  static Process startWorker(GrpcCluster cluster, int task, Path outputDir) throws IOException {
    String java = ProcessHandle.current().info().command().orElse("java");
    String tfConfig = "{\"cluster\": {\"worker\": [\"" + String.join("\", \"", cluster.workers())
        + "\"]}, \"task\": {\"type\": \"worker\", \"index\": " + task + "}}";
    ProcessBuilder pb = new ProcessBuilder(java, "-cp", System.getProperty("java.class.path"),
        "dev.tfdpo.trainer.TrainMain", Golden.ROOT.resolve("configs/default.json").toString(),
        "--output_dir", outputDir.toString(), "--num_threads", "2")
        .directory(Golden.ROOT.toFile())
        .redirectErrorStream(true)
        .redirectOutput(ProcessBuilder.Redirect.INHERIT);
    pb.environment().put("TF_CONFIG", tfConfig);
    return pb.start();
  }

  @AfterAll
  static void close() throws Exception {
    if (inProcess != null) {
      inProcess.close();
    }
    for (DpoGraph g : new DpoGraph[] {twoTasks, inProcessB, shardedTasks}) {
      if (g != null) {
        g.close();
      }
    }
    if (worker != null) {
      worker.destroy();
      worker.waitFor();
    }
  }

  @Test
  void everyOperationOfTheSecondReplicaRunsOnTheSecondTask() {
    int onSecond = 0;
    List<String> wrong = new ArrayList<>();
    for (Iterator<GraphOperation> it = twoTasks.session().graph().operations(); it.hasNext(); ) {
      GraphOperation op = it.next();
      if (op.device().equals(GrpcCluster.device(1))) {
        onSecond++;
      }
      if (op.name().startsWith("replica_1/") && !op.device().isEmpty() && !op.device().equals(GrpcCluster.device(1))) {
        wrong.add(op.name() + " on " + op.device());
      }
    }
    assertTrue(wrong.isEmpty(), "replica 1 ops elsewhere: " + wrong);
    assertTrue(onSecond > 200, onSecond + " ops on task 1");
  }

  /**
   * Task 1 reads its own copies: of the frozen reference (filled once, {@code DpoGraph.weightsLoaded}) and
   * of the policy (which it updates itself). Its forward passes read no weight of task 0, which would
   * cross the network at every micro-batch.
   */
  @Test
  void theSecondTaskReadsItsOwnCopiesOfTheWeights() {
    java.util.function.Predicate<String> passes =
        op -> op.startsWith("replica_1/reference_forward/") || op.startsWith("replica_1/forward/");
    List<String> remote = reads(twoTasks, passes, from -> from.startsWith("reference_read/") || from.startsWith("policy_read/"));
    int copyReads = reads(twoTasks, passes,
        from -> from.startsWith("replica_1/reference_read/") || from.startsWith("replica_1/policy_read/")).size();
    assertTrue(remote.isEmpty(), "replica 1 reads task 0's weights: " + remote);
    assertTrue(copyReads > 20, copyReads + " reads of the copies");
    assertEquals(twoTasks.variableBytes("reference/") + 3 * twoTasks.variableBytes("policy/"),
        twoTasks.mirroredVariableBytes(), "one copy of each, and AdamW's m and v of the policy");
    assertEquals(0, inProcess.mirroredVariableBytes(), "in one process the replicas share the weights");
  }

  /** The edges {@code "op <- input"} of {@code graph} from an operation {@code op} accepts to one {@code from} accepts. */
  private static List<String> reads(DpoGraph graph, java.util.function.Predicate<String> op,
      java.util.function.Predicate<String> from) {
    List<String> edges = new ArrayList<>();
    for (Iterator<GraphOperation> it = graph.session().graph().operations(); it.hasNext(); ) {
      GraphOperation o = it.next();
      for (int i = 0; op.test(o.name()) && i < o.numInputs(); i++) {
        String input = o.input(i).op().name();
        edges.addAll(from.test(input) ? List.of(o.name() + " <- " + input) : List.of());
      }
    }
    return edges;
  }

  /**
   * 6 optimizer steps of 2 tasks x 2 pairs equal, to the bit, 2 in-process replicas x 2 pairs: the same
   * graph, the same kernels on the same shards; only where replica 1 runs and the transport of the
   * all-reduce differ, neither of which changes a value (the all-reduce of two replicas is one float
   * addition either way). With the uneven last global batch (3 pairs as 2 + 1) at the end.
   */
  @Test
  void twoProcessesTrainBitwiseAsTwoInProcessReplicas() {
    // The sessions of two graphs on one cluster share the variables of one name on a task (TensorFlow's
    // servers keep one resource manager per device for all sessions): start from the saved initial state,
    // whichever of the two-task tests ran first.
    twoTasks.restoreState(start.resolve("state"));
    sixSteps(inProcess, twoTasks);
    // Task 1 updated its own copy with its own moments (DDP's update): both equal task 0's to the bit.
    for (String part : List.of("policy/", "optimizer/adam_m/", "optimizer/adam_v/")) {
      Map<String, float[]> first = twoTasks.variableValues(part);
      Map<String, float[]> second = twoTasks.variableValues("replica_1/" + part);
      assertEquals(first.keySet(), second.keySet(), part);
      assertEquals(0.0, DataParallelGraphTest.worstRelative(first, second), 0.0, part + " of task 1 against task 0");
    }
  }

  /**
   * Without a sharded optimizer each task updates its own copy of the policy (DDP): nothing the update
   * runs on task 1 reads a weight or moment of task 0, so per step only the all-reduced gradients cross.
   * The updates read one scalar of task 0, its global norm (the clipping coefficient).
   */
  @Test
  void theSecondTaskUpdatesItsOwnCopy() {
    java.util.function.Predicate<String> update =
        op -> op.startsWith("replica_1/optimizer/") && !op.startsWith("replica_1/optimizer/grad_accum/");
    List<String> remote = new ArrayList<>(reads(twoTasks, update,
        from -> from.startsWith("policy/") || from.startsWith("optimizer/adam_")));
    int updates = 0;
    for (Iterator<GraphOperation> it = twoTasks.session().graph().operations(); it.hasNext(); ) {
      GraphOperation op = it.next();
      if (op.name().startsWith("replica_1/policy_refresh/")) {
        remote.add(op.name() + " refreshes the copy from task 0");
      }
      updates += update.test(op.name()) && op.type().startsWith("Assign")
          && op.input(0).op().name().startsWith("replica_1/policy/") ? 1 : 0;
    }
    assertTrue(remote.isEmpty(), "task 1's update reads task 0's state: " + remote);
    int weights = twoTasks.policyWeights().size();
    assertEquals(weights, updates, "AdamW assignments to task 1's copy");
  }


  /**
   * Runs the 6 steps of the tests on {@code a} and {@code b}, requiring bitwise equal results. The two-task
   * graph gets task 0's shard and, for task 1, its {@linkplain Batch#header header} only (counts and
   * origin, no tensors), as the trainer gives it: task 1 lays its shard out from its own copy of the data
   * ({@code BatchQueue}).
   */
  private static void sixSteps(DpoGraph inProcess, DpoGraph twoTasks) {
    for (int step = 1; step <= 6; step++) {
      int from = 4 * (step - 1);
      int to = step == 6 ? from + 3 : from + 4;
      List<Batch> shards = List.of(examples.batch(range(from, from + 2)), examples.batch(range(from + 2, to)));
      DpoGraph.MicroResult a = inProcess.micro(shards, 1f, null);
      DpoGraph.MicroResult b = twoTasks.micro(List.of(shards.get(0), examples.header(range(from + 2, to))), 1f, null);
      assertEquals(a.metric("loss"), b.metric("loss"), 0f, "loss, step " + step);
      assertEquals(a.metric("rewards/margins"), b.metric("rewards/margins"), 0f, "margins, step " + step);
      float[] scalars = AdamW.stepScalars(5e-4, 0.0, DataParallelGraphTest.ADAM, step);
      assertEquals(inProcess.apply(scalars), twoTasks.apply(scalars), 0f, "gradient norm, step " + step);
    }
    assertEquals(0.0, DataParallelGraphTest.worstRelative(inProcess.policyWeights(), twoTasks.policyWeights()), 0.0);
  }

  /**
   * What the loop reads of a shard that its task lays out: the header's counts equal the laid-out batch's
   * (pairs, TRL's token count, data rows, labels, origin, the counted predictions of each sequence that
   * weigh the token-mean metrics), padded, packed and KTO.
   */
  @Test
  void aHeaderCountsAsTheLaidOutBatch() throws IOException {
    for (List<String> layout : List.of(List.<String>of(), List.of("--packing", "true", "--max_seq_len", "384"))) {
      TrainingObjective.Examples<Batch> ex = examplesOf("configs/default.json", layout);
      assertHeaderMatches(ex, layout.toString());
    }
    assertHeaderMatches(examplesOf("configs/trainers/kto-tiny.json", List.of()), "kto");
  }

  private static void assertHeaderMatches(TrainingObjective.Examples<Batch> ex, String what) {
    for (int[] positions : List.of(new int[] {0, 1}, new int[] {5}, new int[] {7, 3, 11})) {
      Batch full = ex.batch(positions);
      Batch header = ex.header(positions);
      assertTrue(header.isHeader(), what);
      assertEquals(full.numPairs(), header.numPairs(), what);
      assertEquals(full.realTokens(), header.realTokens(), what + " tokens");
      org.junit.jupiter.api.Assertions.assertArrayEquals(full.pairIndices(), header.pairIndices(), what);
      org.junit.jupiter.api.Assertions.assertArrayEquals(full.labels(), header.labels(), what);
      org.junit.jupiter.api.Assertions.assertArrayEquals(full.origin().encode(), header.origin().encode(), what);
      int[] counted = java.util.Arrays.stream(full.lossSequences()).filter(s -> s >= 0).sorted().toArray();
      org.junit.jupiter.api.Assertions.assertArrayEquals(counted,
          java.util.Arrays.stream(header.lossSequences()).sorted().toArray(), what + " predictions per sequence");
    }
  }

  private static int[] range(int from, int to) {
    return java.util.stream.IntStream.range(from, to).toArray();
  }


  /**
   * {@code sharding stage1} across the tasks: the same 6 steps bitwise equal to unsharded in one process
   * (the same float32 AdamW kernels on the same values; only the device, here another process, differs),
   * with each task holding about half of the moments (by requested device, as
   * {@link ShardedOptimizerTest#eachDeviceHoldsAboutHalfOfTheMoments}).
   */
  @Test
  void shardedTasksTrainBitwiseAsUnshardedInProcess() {
    Map<String, Long> split = ShardedOptimizerTest.momentBytesByDevice(shardedTasks);
    long total = ShardedOptimizerTest.momentBytesByDevice(inProcessB).get("/device:CPU:0");
    System.out.println("AdamW m+v bytes by device, 2 tasks with sharding stage1: " + split + " (total " + total + ")");
    assertEquals(List.of(GrpcCluster.device(0), GrpcCluster.device(1)), List.copyOf(split.keySet()));
    assertEquals(total, split.values().stream().mapToLong(Long::longValue).sum());
    long largest = 2L * 4 * inProcessB.policyWeights().values().stream().mapToLong(w -> w.length).max().orElseThrow();
    for (long b : split.values()) {
      assertTrue(b <= total / 2 + largest, b + " bytes on one task, total " + total + ", largest m+v " + largest);
    }
    shardedTasks.restoreState(start.resolve("state")); // shared variables: see the test above
    sixSteps(inProcessB, shardedTasks);
  }
}
