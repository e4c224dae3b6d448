package dev.tfdpo.graphs;

import java.lang.reflect.Constructor;
import java.lang.reflect.Method;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.PointerScope;
import org.tensorflow.DeviceSpec;
import org.tensorflow.Graph;
import org.tensorflow.internal.c_api.TF_Graph;
import org.tensorflow.internal.c_api.TF_Session;
import org.tensorflow.internal.c_api.TF_SessionOptions;
import org.tensorflow.internal.c_api.TF_Status;
import org.tensorflow.internal.c_api.global.tensorflow;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.VarHandleOp;
import org.tensorflow.Server;
import org.tensorflow.Session;
import org.tensorflow.proto.ClusterDef;
import org.tensorflow.proto.ConfigProto;
import org.tensorflow.proto.JobDef;
import org.tensorflow.proto.ServerDef;
import org.tensorflow.types.TString;

/**
 * Several processes over TensorFlow's gRPC runtime: one job {@code worker} with one task per process,
 * each at its {@code host:port}; this process is task {@link #task}. Task 0 is the chief: its session
 * runs the whole training graph, one replica placed on each task ({@link #devices}); the other tasks
 * serve their part of the graph from their {@link Server} and lay out their replica's batches
 * ({@code BatchQueue}, through a session of their own, {@link #ownSession}). Each task can also {@linkplain #publish
 * publish} a string in its own server that the others {@linkplain #read read} (the start-up config check
 * and the liveness probe of the trainer's {@code ClusterWatch}).
 *
 * @param workers every task's {@code host:port}, in task order
 * @param task this process's task index
 */
public record GrpcCluster(List<String> workers, int task) {

  /** The job name, as in {@code TF_CONFIG}. */
  public static final String JOB = "worker";

  /** Checks the combination. */
  public GrpcCluster {
    workers = List.copyOf(workers);
    if (workers.isEmpty()) {
      throw new IllegalArgumentException("a cluster needs at least one worker");
    }
    if (task < 0 || task >= workers.size()) {
      throw new IllegalArgumentException("task index " + task + " is not one of the " + workers.size()
          + " workers (0.." + (workers.size() - 1) + ")");
    }
  }

  /** Number of tasks (processes). */
  public int size() {
    return workers.size();
  }

  /** Whether this process is task 0, the chief: it runs the session and alone writes output. */
  public boolean chief() {
    return task == 0;
  }

  /** Task {@code k}'s CPU, full name: where replica k runs. */
  public static String device(int k) {
    return "/job:" + JOB + "/replica:0/task:" + k + "/device:CPU:0";
  }

  /** One replica per task, replica k on task k's CPU. */
  public List<String> devices() {
    List<String> names = new ArrayList<>();
    for (int k = 0; k < workers.size(); k++) {
      names.add(device(k));
    }
    return names;
  }

  /** This task's session target, {@code grpc://host:port}. */
  public String target() {
    return "grpc://" + workers.get(task);
  }

  /**
   * The server definition: the cluster, this task, and the default session config every task runs its
   * graph partitions with. {@code collective_group_leader} must be in that default config (set only in
   * the chief's session config, the collectives across tasks time out): task 0 resolves the group.
   *
   * @param sessionDefaults options of the graph's session (threads, Grappler switches)
   */
  public ServerDef serverDef(ConfigProto sessionDefaults) {
    ConfigProto config = sessionDefaults.toBuilder()
        .setExperimental(sessionDefaults.getExperimental().toBuilder()
            .setCollectiveGroupLeader("/job:" + JOB + "/replica:0/task:0"))
        .build();
    JobDef.Builder job = JobDef.newBuilder().setName(JOB);
    for (int k = 0; k < workers.size(); k++) {
      job.putTasks(k, workers.get(k));
    }
    return ServerDef.newBuilder()
        .setCluster(ClusterDef.newBuilder().addJob(job))
        .setJobName(JOB)
        .setTaskIndex(task)
        .setProtocol("grpc")
        .setDefaultSessionConfig(config)
        .build();
  }

  private static TF_Session newSession(TF_Graph graph, String target, ConfigProto config) {
    try (PointerScope scope = new PointerScope()) {
      TF_Status status = TF_Status.newStatus();
      TF_SessionOptions options = TF_SessionOptions.newSessionOptions();
      tensorflow.TF_SetTarget(options, target);
      BytePointer bytes = new BytePointer(config.toByteArray());
      tensorflow.TF_SetConfig(options, bytes, bytes.capacity(), status);
      status.throwExceptionIfNotOK();
      TF_Session session = TF_Session.newSession(graph, options, status);
      status.throwExceptionIfNotOK();
      session.retainReference();
      return session;
    }
  }

  /**
   * Starts this task's server. A TensorFlow server cannot be stopped in-process ("clean shutdown is not
   * implemented"): it lives until the JVM exits, so never close it.
   *
   * @throws IllegalStateException naming the address when the port cannot be bound
   */
  public Server start(ConfigProto sessionDefaults) {
    try {
      Server server = new Server(serverDef(sessionDefaults));
      server.start();
      return server;
    } catch (RuntimeException e) {
      throw new IllegalStateException("cannot start the TensorFlow server of task " + task + " at "
          + workers.get(task) + " (is the port in use?): " + e.getMessage(), e);
    }
  }

  /**
   * A session of {@code graph} on {@code target} ({@code grpc://host:port}). TensorFlow Java has no
   * public constructor with a target (its private {@code Session.allocate} takes one but never passes it
   * to {@code TF_SetTarget}): the native session is made here with the C API, as {@code allocate} makes
   * it plus the target, and wrapped by the package-private {@code Session(Graph, TF_Session)}, reached by
   * reflection (the TensorFlow jars are on the class path, so not module-encapsulated).
   */
  public static Session session(Graph graph, String target, ConfigProto config) {
    try {
      Method ref = Graph.class.getDeclaredMethod("ref");
      ref.setAccessible(true);
      Object reference = ref.invoke(graph);
      try {
        Method handle = reference.getClass().getDeclaredMethod("nativeHandle");
        handle.setAccessible(true);
        Object graphHandle = handle.invoke(reference);
        Object sessionHandle = newSession((TF_Graph) graphHandle, target, config);
        Constructor<Session> make = Session.class.getDeclaredConstructor(Graph.class, sessionHandle.getClass());
        make.setAccessible(true);
        Session session = make.newInstance(graph, sessionHandle);
        // As the public constructors: run the graph's initializers before the first run.
        java.lang.reflect.Field autoInit = Session.class.getDeclaredField("autoInit");
        autoInit.setAccessible(true);
        autoInit.setBoolean(session, true);
        return session;
      } finally {
        ((AutoCloseable) reference).close();
      }
    } catch (java.lang.reflect.InvocationTargetException e) {
      Throwable cause = e.getCause();
      throw cause instanceof RuntimeException re ? re : new IllegalStateException(cause);
    } catch (Exception e) {
      throw new IllegalStateException("cannot open a TensorFlow session on " + target
          + " with this TensorFlow Java version: " + e, e);
    }
  }

  /**
   * A session of {@code graph} on this task's own server that sees only this task's devices: for graphs
   * whose operations all run here (a task serving its replica's batches, {@code BatchQueue}).
   */
  public Session ownSession(Graph graph, ConfigProto sessionDefaults) {
    return session(graph, target(), filtered(sessionDefaults, task));
  }

  /** The {@code shared_name} of the string variable each task publishes about itself ({@link #publish}). */
  public static final String IDENTITY = "tfdpo_task_identity";

  /**
   * The {@code shared_name} of the string variable the chief sets in each worker's server once it has read
   * that worker's identity ({@link #greet}).
   */
  public static final String GREETING = "tfdpo_chief_greeting";

  /**
   * Publishes {@code text} in this task's own server: a scalar string resource variable with the fixed
   * {@code shared_name} {@link #IDENTITY} on this task's CPU, assigned by a session on this task's own
   * target. The variable lives in the device's resource manager, which every session on that device shares
   * (TensorFlow's default, {@code isolate_session_state} off), so another task's session reads it with the
   * same {@code shared_name} on this device ({@link #read}). Call after {@link #start}.
   */
  public void publish(String text, ConfigProto sessionDefaults) {
    assign(task, IDENTITY, text, sessionDefaults);
  }

  /**
   * The chief's mark in task {@code k}'s server that it has seen the task: a worker whose chief ends within
   * a moment (refusing the worker's config) may never see the chief's port open itself, and waits for a
   * chief it has not seen ({@link #greeted}).
   */
  public void greet(int k, ConfigProto sessionDefaults) {
    assign(k, GREETING, target(), sessionDefaults);
  }

  /** Whether a chief has {@linkplain #greet greeted} this task. */
  public boolean greeted(ConfigProto sessionDefaults) {
    try {
      read(task, GREETING, sessionDefaults);
      return true;
    } catch (RuntimeException e) { // not assigned yet
      return false;
    }
  }

  /** Sets the string variable {@code sharedName} on task {@code k}'s CPU, through this task's server. */
  private void assign(int k, String sharedName, String text, ConfigProto sessionDefaults) {
    try (Graph g = new Graph()) {
      Ops tf = GraphScopes.root(g).withDevice(cpu(k));
      var handle = tf.varHandleOp(TString.class, Shape.scalar(), VarHandleOp.sharedName(sharedName));
      var assign = tf.assignVariableOp(handle, tf.constant(text));
      try (Session s = session(g, target(), filtered(sessionDefaults, k))) {
        s.runner().addTarget(assign).run();
      }
    }
  }

  /**
   * Reads what task {@code k} {@linkplain #publish published}, through a session on this task's server that
   * sees only task {@code k} ({@code device_filters}: a session's creation contacts every task it sees, so
   * a silent third task cannot block it). Also the liveness probe of a task: it answers only when task
   * {@code k}'s process runs. Fails (a {@code TFException}) when task {@code k} has published nothing yet.
   * Blocks as long as TensorFlow's gRPC call does, which is forever for a stopped process: callers bound it
   * ({@link #readWithin}).
   */
  public String read(int k, ConfigProto sessionDefaults) {
    return read(k, IDENTITY, sessionDefaults);
  }

  /** The string variable {@code sharedName} on task {@code k}'s CPU, read through this task's server. */
  private String read(int k, String sharedName, ConfigProto sessionDefaults) {
    try (Graph g = new Graph()) {
      Ops tf = GraphScopes.root(g).withDevice(cpu(k));
      var handle = tf.varHandleOp(TString.class, Shape.scalar(), VarHandleOp.sharedName(sharedName));
      var value = tf.readVariableOp(handle, TString.class);
      try (Session s = session(g, target(), filtered(sessionDefaults, k));
          var result = s.runner().fetch(value).run()) {
        return ((TString) result.get(0)).getObject();
      }
    }
  }

  /**
   * {@link #read} on its own daemon thread: the future completes with the text or TensorFlow's error
   * (task {@code k} gone, nothing published). A caller that stops waiting abandons the thread, blocked in
   * TensorFlow's gRPC call: nothing cancels it.
   */
  public CompletableFuture<String> readAsync(int k, ConfigProto sessionDefaults) {
    CompletableFuture<String> answer = new CompletableFuture<>();
    Thread probe = new Thread(() -> {
      try {
        answer.complete(read(k, sessionDefaults));
      } catch (Throwable e) {
        answer.completeExceptionally(e);
      }
    }, "tfdpo-probe-task-" + k);
    probe.setDaemon(true);
    probe.start();
    return answer;
  }

  /**
   * {@link #readAsync}, waiting at most {@code timeoutMillis}: empty when task {@code k} did not answer in
   * time. TensorFlow's errors are thrown.
   */
  public Optional<String> readWithin(int k, ConfigProto sessionDefaults, long timeoutMillis) {
    try {
      return Optional.of(readAsync(k, sessionDefaults).get(timeoutMillis,
          TimeUnit.MILLISECONDS));
    } catch (TimeoutException e) {
      return Optional.empty();
    } catch (ExecutionException e) {
      throw e.getCause() instanceof RuntimeException re ? re : new IllegalStateException(e.getCause());
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted while probing task " + k, e);
    }
  }

  /** Task {@code k}'s CPU, {@link #device}, as a {@link DeviceSpec}. */
  public static DeviceSpec cpu(int k) {
    return DeviceSpec.newBuilder().job(JOB).replica(0).task(k).deviceType(DeviceSpec.DeviceType.CPU).deviceIndex(0).build();
  }

  /** {@code config} for a session that sees only task {@code k}'s devices. */
  private static ConfigProto filtered(ConfigProto config, int k) {
    return config.toBuilder().clearDeviceFilters().addDeviceFilters("/job:" + JOB + "/replica:0/task:" + k).build();
  }
}
