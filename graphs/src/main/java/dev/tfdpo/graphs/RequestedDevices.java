package dev.tfdpo.graphs;

import static org.tensorflow.internal.c_api.global.tensorflow.TF_GetCode;
import static org.tensorflow.internal.c_api.global.tensorflow.TF_OK;
import static org.tensorflow.internal.c_api.global.tensorflow.TF_OperationGetAttrMetadata;
import static org.tensorflow.internal.c_api.global.tensorflow.TF_SetRequestedDevice;

import java.lang.reflect.Method;
import java.util.Iterator;
import org.tensorflow.Graph;
import org.tensorflow.GraphOperation;
import org.tensorflow.internal.c_api.TF_Graph;
import org.tensorflow.internal.c_api.TF_Operation;
import org.tensorflow.internal.c_api.TF_Status;

/**
 * Sets the requested device of operations already in a graph, through the C API's {@code
 * TF_SetRequestedDevice} (the call Python's {@code Operation._set_device} makes). The graph's native
 * handle is package-private in TensorFlow Java ({@code Graph.ref()}); it is reached by reflection, which
 * works because the TensorFlow jars are on the class path, not the module path.
 *
 * <p>Why: the C++ gradient builder ({@code TF_AddGradientsWithPrefix}) creates the backward operations
 * without a device, whatever the Java scope's device, so a replica's backward pass would all land on the
 * first device. Setting the device in place keeps every Java {@code Operand} valid (no GraphDef export
 * and re-import, which loses TensorFlow Java's initializer list and the {@code Operand} objects).
 */
public final class RequestedDevices {

  private RequestedDevices() {}

  /** Operations in {@code graph} now: the index the next created operation will have in the walk order. */
  public static int count(Graph graph) {
    int n = 0;
    for (Iterator<GraphOperation> it = graph.operations(); it.hasNext(); it.next()) {
      n++;
    }
    return n;
  }

  /**
   * Gives every operation from index {@code from} on (graph walk order, which is creation order) that has
   * no requested device the device {@code device}; operations placed explicitly keep theirs, and so do
   * operations colocated with another by a {@code _class} attribute: TensorFlow's gradient functions
   * colocate a few of theirs with their forward input (GatherV2's gradient takes the {@code Shape} of the
   * gathered weight next to the weight), and the placer puts them there.
   *
   * @return how many operations were placed
   */
  public static int placeUnplaced(Graph graph, int from, String device) {
    int index = 0;
    int placed = 0;
    try (AutoCloseable ref = reference(graph)) {
      TF_Graph handle = nativeHandle(ref);
      for (Iterator<GraphOperation> it = graph.operations(); it.hasNext(); index++) {
        GraphOperation op = it.next();
        if (index >= from && op.device().isEmpty() && !colocated(op.getUnsafeNativeHandle())) {
          TF_SetRequestedDevice(handle, op.getUnsafeNativeHandle(), device);
          placed++;
        }
      }
    } catch (Exception e) {
      throw new IllegalStateException("cannot set devices in the graph: " + e, e);
    }
    return placed;
  }

  /** Sets the requested device of each of {@code ops}, whatever it was (no walk over the graph). */
  public static void place(Graph graph, java.util.Collection<GraphOperation> ops, String device) {
    try (AutoCloseable ref = reference(graph)) {
      TF_Graph handle = nativeHandle(ref);
      for (GraphOperation op : ops) {
        TF_SetRequestedDevice(handle, op.getUnsafeNativeHandle(), device);
      }
    } catch (Exception e) {
      throw new IllegalStateException("cannot set devices in the graph: " + e, e);
    }
  }

  /** {@code graph.ref()}: keeps the native graph alive while its handle is used. */
  private static AutoCloseable reference(Graph graph) throws ReflectiveOperationException {
    Method ref = Graph.class.getDeclaredMethod("ref");
    ref.setAccessible(true);
    return (AutoCloseable) ref.invoke(graph);
  }

  private static TF_Graph nativeHandle(AutoCloseable reference) throws ReflectiveOperationException {
    Method handle = reference.getClass().getDeclaredMethod("nativeHandle");
    handle.setAccessible(true);
    return (TF_Graph) handle.invoke(reference);
  }

  /** Whether the operation has a {@code _class} colocation attribute. */
  private static boolean colocated(TF_Operation op) {
    try (TF_Status status = TF_Status.newStatus()) {
      TF_OperationGetAttrMetadata(op, "_class", status);
      return TF_GetCode(status) == TF_OK;
    }
  }
}
