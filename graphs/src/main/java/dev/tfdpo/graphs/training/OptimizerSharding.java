package dev.tfdpo.graphs.training;


import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.tensorflow.DeviceSpec;
import org.tensorflow.Graph;
import org.tensorflow.GraphOperation;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Variable;
import org.tensorflow.types.TFloat32;
import dev.tfdpo.graphs.RequestedDevices;

/**
 * ZeRO-1 / PaddleNLP {@code sharding: stage1}: every trainable tensor has one owner replica, whose
 * device holds its AdamW m and v and computes its update; the new weight is assigned to the shared weight
 * variable on the first device, which every replica reads in its next forward pass (that read is the
 * all-gather). The replicas are devices of this process or the tasks of a gRPC cluster, where an owner's
 * moments live in its task's process. Whole tensors are dealt out greedily, largest first, to
 * the device that holds the fewest moment bytes so far, so each device holds about 1/N of the state.
 *
 * <p>Same numbers as unsharded: the update runs the same kernels on the same float32 values, only on
 * another device; the gradient is the all-reduced one on the first device, copied to the owner.
 */
final class OptimizerSharding {

  /** A device of this process ({@code /device:CPU:1}) or of a cluster's task ({@code /job:worker/replica:0/task:1/device:CPU:0}). */
  private static final Pattern NAME =
      Pattern.compile("(?:/job:(\\w+)/replica:(\\d+)/task:(\\d+))?/device:(CPU|GPU):(\\d+)");

  /** Owner device of each parameter, by parameter name. */
  private final Map<String, String> owners;

  private OptimizerSharding(Map<String, String> owners) {
    this.owners = owners;
  }

  /** Deals the parameters of {@code params} out to {@code devices}, largest first, to the least loaded. */
  static OptimizerSharding balanced(ParameterSet params, List<String> devices) {
    List<String> names = new ArrayList<>(params.variables().keySet());
    // Largest first; equal sizes keep the parameters' (forward) order, so the deal is deterministic.
    names.sort(Comparator.comparingLong((String n) -> params.shapes().get(n).size()).reversed());
    long[] load = new long[devices.size()];
    Map<String, String> owners = new LinkedHashMap<>();
    for (String name : names) {
      int least = 0;
      for (int d = 1; d < load.length; d++) {
        least = load[d] < load[least] ? d : least;
      }
      owners.put(name, devices.get(least));
      load[least] += params.shapes().get(name).size();
    }
    return new OptimizerSharding(owners);
  }

  /** The device that owns {@code parameter}'s moments and update. */
  String owner(String parameter) {
    return owners.get(parameter);
  }

  /** {@code tf} with the owner's device for every op it creates. */
  Ops on(Ops tf, String parameter) {
    return tf.withDevice(spec(owner(parameter)));
  }

  /**
   * After the whole graph is built: every assignment to a variable sits on that variable's device (a
   * reference edge requires it, and TensorFlow refuses two requested devices across one). The moments'
   * initializers and checkpoint restores get the owner's device; the AdamW weight assignment, built on
   * the owner, goes back to the weight's device, {@code weightDevice}.
   */
  void colocateAssignments(Graph graph, Map<String, Variable<TFloat32>> moments,
      Map<String, Variable<TFloat32>> weights, String weightDevice) {
    moments.forEach((key, m) -> placeAssigns(graph, m, owner(key.substring(key.indexOf('/') + 1))));
    weights.values().forEach(w -> placeAssigns(graph, w, weightDevice));
  }

  /** The variable and every Assign-type consumer of it on {@code device} (one variable's consumers only). */
  private static void placeAssigns(Graph graph, Variable<TFloat32> variable, String device) {
    GraphOperation op = (GraphOperation) variable.op();
    List<GraphOperation> ops = new ArrayList<>(List.of(op));
    for (GraphOperation c : op.consumers(0)) {
      if (c.type().startsWith("Assign")) {
        ops.add(c);
      }
    }
    RequestedDevices.place(graph, ops, device);
  }

  /** A {@code /device:CPU:1} or {@code /job:worker/replica:0/task:1/device:CPU:0} name as a {@link DeviceSpec}. */
  private static DeviceSpec spec(String device) {
    Matcher m = NAME.matcher(device);
    if (!m.matches()) {
      throw new IllegalArgumentException("sharding needs devices named like /device:CPU:1 or "
          + "/job:worker/replica:0/task:1/device:CPU:0, got " + device);
    }
    DeviceSpec.Builder b = DeviceSpec.newBuilder();
    if (m.group(1) != null) { // a task of a gRPC cluster: the owner's moments live in that task's process
      b.job(m.group(1)).replica(Integer.parseInt(m.group(2))).task(Integer.parseInt(m.group(3)));
    }
    return b.deviceType(DeviceSpec.DeviceType.valueOf(m.group(4))).deviceIndex(Integer.parseInt(m.group(5))).build();
  }
}
