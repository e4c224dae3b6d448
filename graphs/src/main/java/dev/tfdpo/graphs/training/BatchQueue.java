package dev.tfdpo.graphs.training;

import dev.tfdpo.graphs.GrpcCluster;
import dev.tfdpo.graphs.GraphScopes;
import dev.tfdpo.graphs.Tensors;
import java.io.PrintStream;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Function;
import org.tensorflow.Graph;
import org.tensorflow.Operand;
import org.tensorflow.Session;
import org.tensorflow.Tensor;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.op.Op;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Placeholder;
import org.tensorflow.op.io.FifoQueue;
import org.tensorflow.op.io.QueueDequeue;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt32;
import org.tensorflow.types.family.TType;

/**
 * A replica's micro-batches laid out by the task it runs on, from that task's own copy of the data
 * (docs/distributed.md, "Every task reads its own data").
 *
 * <p>Two FIFO queues live in task k's server, found by their {@code shared_name} (every session on a
 * device shares its resource manager): <b>requests</b>, one int vector per micro-batch ({@link
 * Batch.Origin#encode}: the data set and the positions of the shard), and <b>batches</b>, the shard's
 * nine input tensors in {@link BatchInputs}' order. The chief's training graph holds, in replica k's
 * scope on task k, the request's placeholder and enqueue and the batch's dequeue ({@link #consumer});
 * replica k's inputs are the dequeued tensors. Task k's own process {@linkplain #serve serves}: it
 * dequeues each request, lays the batch out with the same objective code and data as the chief, and
 * enqueues it. So one session run of the chief enqueues the request, and replica k's forward pass waits
 * for the tensors task k laid out: the shard's token ids never cross the network, only a few ints of
 * positions do.
 */
public final class BatchQueue {

  /** The requests' {@code shared_name}, followed by the task index. */
  static final String REQUESTS = "tfdpo_batch_requests_task_";

  /** The batches' {@code shared_name}, followed by the task index. */
  static final String BATCHES = "tfdpo_batches_task_";

  /** The batches' component types, in {@link BatchInputs}' order (the last: per-pair labels). */
  static final List<Class<? extends TType>> TYPES = List.of(TInt32.class, TInt32.class, TInt32.class,
      TInt32.class, TInt32.class, TInt32.class, TInt32.class, TInt32.class, TFloat32.class);

  /** The requests' one component: the encoded {@link Batch.Origin}. */
  private static final List<Class<? extends TType>> REQUEST_TYPES = List.of(TInt32.class);

  /** Queue capacity: the chief asks for one batch per run, so one more than that never blocks the server. */
  private static final long CAPACITY = 2;

  private final Placeholder<TInt32> request;
  private final Op enqueueRequest;
  private final List<Operand<?>> components;

  private BatchQueue(Placeholder<TInt32> request, Op enqueueRequest, List<Operand<?>> components) {
    this.request = request;
    this.enqueueRequest = enqueueRequest;
    this.components = components;
  }

  /**
   * The chief's side in replica {@code task}'s scope {@code tf} (placed on that task): the request's
   * placeholder and enqueue, and the dequeue of the batch.
   */
  static BatchQueue consumer(Ops tf, int task) {
    Placeholder<TInt32> request = tf.withName("batch_request").placeholder(TInt32.class,
        Placeholder.shape(Shape.of(Shape.UNKNOWN_SIZE))); // [1 + P]
    Op enqueue = tf.withName("batch_request_enqueue").io.queueEnqueue(queue(tf, REQUESTS, task, REQUEST_TYPES),
        List.of(request));
    QueueDequeue dequeued = tf.withName("batch_dequeue").io.queueDequeue(queue(tf, BATCHES, task, TYPES), TYPES);
    return new BatchQueue(request, enqueue, new ArrayList<>(dequeued.components()));
  }

  /** Component {@code i} of the dequeued batch. */
  @SuppressWarnings("unchecked")
  <T extends TType> Operand<T> component(int i) {
    return (Operand<T>) components.get(i);
  }

  /** Feeds the request for {@code batch} and runs its enqueue; the tensor must stay open until the run is done. */
  Tensor request(Session.Runner runner, Batch batch) {
    if (batch.origin() == null) {
      throw new IllegalStateException("replica inputs are laid out by their task, but this batch does not say "
          + "which examples it holds (Batch.origin)");
    }
    int[] encoded = batch.origin().encode();
    TInt32 t = Tensors.ints(new long[] {encoded.length}, encoded);
    runner.feed(request, t).addTarget(enqueueRequest);
    return t;
  }

  private static FifoQueue queue(Ops tf, String name, int task, List<Class<? extends TType>> types) {
    return tf.withName(name.replace("tfdpo_", "")).io.fifoQueue(types,
        FifoQueue.sharedName(name + task), FifoQueue.capacity(CAPACITY));
  }

  /**
   * Serves this process's task of {@code cluster} on a daemon thread: lays out every requested batch with
   * {@code layout} and enqueues it, until the process ends. A request that cannot be laid out prints what
   * went wrong to {@code out} and ends the process with status 1 (the chief's run would wait for the batch
   * forever; the chief's watch sees the task gone and stops the run, naming it).
   *
   * @param sessionDefaults the session config of the cluster's server
   */
  public static Thread serve(GrpcCluster cluster, org.tensorflow.proto.ConfigProto sessionDefaults,
      Function<Batch.Origin, Batch> layout, PrintStream out) {
    Thread server = new Thread(() -> {
      try (Graph g = new Graph()) {
        int task = cluster.task();
        Ops tf = GraphScopes.root(g).withDevice(GrpcCluster.cpu(task));
        QueueDequeue requests = tf.io.queueDequeue(queue(tf, REQUESTS, task, REQUEST_TYPES), REQUEST_TYPES);
        List<Placeholder<?>> inputs = new ArrayList<>();
        for (Class<? extends TType> type : TYPES) {
          inputs.add(tf.placeholder(type));
        }
        Op enqueue = tf.io.queueEnqueue(queue(tf, BATCHES, task, TYPES), new ArrayList<>(inputs));
        try (Session s = cluster.ownSession(g, sessionDefaults)) {
          while (true) {
            int[] request;
            try (var r = s.runner().fetch(requests.components().get(0)).run()) {
              request = Tensors.toInts(r.get(0));
            }
            List<Tensor> tensors = BatchInputs.tensors(layout.apply(Batch.Origin.decode(request)));
            try {
              Session.Runner runner = s.runner().addTarget(enqueue);
              for (int i = 0; i < inputs.size(); i++) {
                runner.feed(inputs.get(i), tensors.get(i));
              }
              runner.run();
            } finally {
              BatchInputs.close(tensors);
            }
          }
        }
      } catch (Throwable e) {
        out.println("cluster: task " + cluster.task() + " cannot lay out a requested batch from its data: " + e);
        out.flush();
        Runtime.getRuntime().halt(1);
      }
    }, "tfdpo-batch-server");
    server.setDaemon(true);
    server.start();
    return server;
  }
}
