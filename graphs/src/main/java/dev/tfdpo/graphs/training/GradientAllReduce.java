package dev.tfdpo.graphs.training;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.tensorflow.Graph;
import org.tensorflow.Operand;
import org.tensorflow.Output;
import dev.tfdpo.graphs.RequestedDevices;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.op.Op;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Variable;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt32;

/**
 * The replica seam's combine step for several replicas: once per optimizer step, every replica's
 * accumulated gradient is summed across replicas by {@code CollectiveReduceV2}, bucket by bucket (the
 * parameters, in forward order, concatenated into flat buckets of about {@link Replication#bucketBytes},
 * so a step makes a few collectives rather than one per tensor). The sum goes back into the first
 * replica's accumulators, which the optimizer reads ({@link GradientAccumulation#combined}); the other
 * replicas' accumulators are zeroed for the next step, except those of a replica that applies the update
 * to its own copy of the weights ({@link DataParallel#afterUpdate}), which keep the sum too.
 *
 * <p>Each replica scales its gradient by its share of the micro-batch's pairs before accumulating
 * ({@link DpoGraph}), so the sum is the gradient of the whole micro-batch, as one device would compute it.
 */
final class GradientAllReduce {

  /** Group key of the replicas' collectives (one group per graph and session). */
  static final int GROUP_KEY = 1;

  private GradientAllReduce() {}

  /**
   * Builds the all-reduce: per replica {@code k} its ops are created in {@code replicaOps.get(k)} and
   * placed on its device. Returns the one target that runs it.
   *
   * @param keepsSum per replica, whether its accumulators receive the sum (the first always does)
   */
  static Op build(Graph graph, List<Ops> replicaOps, List<GradientAccumulation> replicas, ParameterSet params,
      Replication r, List<Boolean> keepsSum) {
    List<List<String>> buckets = buckets(params, r.bucketBytes());
    List<Op> done = new ArrayList<>();
    for (int k = 0; k < replicas.size(); k++) {
      int mark = RequestedDevices.count(graph);
      Ops tf = replicaOps.get(k);
      Map<String, Variable<TFloat32>> acc = replicas.get(k).accumulators();
      for (int b = 0; b < buckets.size(); b++) {
        List<String> names = buckets.get(b);
        List<Operand<TFloat32>> flat = new ArrayList<>();
        for (String name : names) {
          flat.add(tf.reshape(acc.get(name), tf.constant(new long[] {-1}))); // [size]
        }
        Operand<TFloat32> bucket = flat.size() == 1 ? flat.get(0) : tf.concat(flat, tf.constant(0)); // [bucket]
        Operand<TFloat32> sum = collectiveSum(tf, bucket, r, b + 1, "bucket_" + b); // [bucket]
        done.addAll(k == 0 || keepsSum.get(k) ? scatter(tf, sum, names, acc, params) : clear(tf, sum, names, acc));
      }
      RequestedDevices.placeUnplaced(graph, mark, r.devices().get(k));
    }
    return replicaOps.get(0).withControlDependencies(done).withName("allreduce").noOp();
  }

  /**
   * {@code CollectiveReduceV2} (sum, result on every member) of {@code x} over the replicas, by raw op
   * name: TensorFlow Java wraps only V3, whose communicator initialization crashes the JVM. The same
   * {@code instanceKey} on every replica names one collective.
   */
  static Operand<TFloat32> collectiveSum(Ops tf, Operand<TFloat32> x, Replication r, int instanceKey, String name) {
    Operand<TInt32> groupSize = tf.constant(r.replicas()); // []
    Operand<TInt32> groupKey = tf.constant(GROUP_KEY); // []
    Operand<TInt32> instance = tf.constant(instanceKey); // []
    Output<TFloat32> out = tf.scope().opBuilder("CollectiveReduceV2", name)
        .addInput(x.asOutput())
        .addInput(groupSize.asOutput())
        .addInput(groupKey.asOutput())
        .addInput(instance.asOutput())
        .addInputList(new Output<?>[0])
        .setAttr("merge_op", "Add")
        .setAttr("final_op", "Id")
        .setAttr("communication_hint", r.communicationHint())
        .setAttr("timeout_seconds", r.timeoutSeconds())
        .build()
        .output(0);
    return out; // same shape as x
  }

  /** The first replica (or one with its own update): the summed bucket, split and reshaped back into its accumulators. */
  private static List<Op> scatter(Ops tf, Operand<TFloat32> sum, List<String> names,
      Map<String, Variable<TFloat32>> acc, ParameterSet params) {
    List<Op> assigns = new ArrayList<>();
    if (names.size() == 1) {
      String name = names.get(0);
      Operand<TFloat32> value = tf.reshape(sum, tf.constant(params.shapes().get(name).asArray())); // parameter shape
      assigns.add(tf.assign(acc.get(name), value));
      return assigns;
    }
    long[] sizes = new long[names.size()];
    for (int i = 0; i < sizes.length; i++) {
      sizes[i] = params.shapes().get(names.get(i)).size();
    }
    List<Output<TFloat32>> parts =
        tf.splitV(sum, tf.constant(sizes), tf.constant(0), (long) sizes.length).output(); // [size_i] each
    for (int i = 0; i < sizes.length; i++) {
      Shape shape = params.shapes().get(names.get(i));
      Operand<TFloat32> value = tf.reshape(parts.get(i), tf.constant(shape.asArray())); // parameter shape
      assigns.add(tf.assign(acc.get(names.get(i)), value));
    }
    return assigns;
  }

  /** The other replicas: after the collective has read them, their accumulators start again at zero. */
  private static List<Op> clear(Ops tf, Operand<TFloat32> sum, List<String> names, Map<String, Variable<TFloat32>> acc) {
    Ops after = tf.withControlDependencies(List.of(sum));
    List<Op> assigns = new ArrayList<>();
    for (String name : names) {
      assigns.add(after.assign(acc.get(name), after.zerosLike(acc.get(name)))); // like acc
    }
    return assigns;
  }

  /** Parameter names, in forward order, grouped into buckets of at least {@code bytes} (the last may be less). */
  static List<List<String>> buckets(ParameterSet params, long bytes) {
    List<List<String>> buckets = new ArrayList<>();
    List<String> current = new ArrayList<>();
    long size = 0;
    for (String name : params.names()) {
      current.add(name);
      size += 4 * params.shapes().get(name).size();
      if (size >= bytes) {
        buckets.add(current);
        current = new ArrayList<>();
        size = 0;
      }
    }
    if (!current.isEmpty()) {
      buckets.add(current);
    }
    return buckets;
  }
}
