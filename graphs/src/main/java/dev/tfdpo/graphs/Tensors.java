package dev.tfdpo.graphs;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import org.tensorflow.Session;
import org.tensorflow.Tensor;
import org.tensorflow.op.Op;
import org.tensorflow.op.core.Placeholder;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.ndarray.buffer.DataBuffers;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt32;

/** Copies between Java arrays and tensors. */
public final class Tensors {

  private Tensors() {}

  /**
   * Feeds every placeholder of {@code feeds} the values of its name (present, and filling the name's
   * shape) and runs {@code assign} once; {@code what} names the values in errors.
   */
  public static void assignAll(Session session, Map<String, Placeholder<TFloat32>> feeds,
      Map<String, float[]> values, Function<String, long[]> shapeOf, Op assign, String what) {
    Session.Runner runner = session.runner();
    List<Tensor> tensors = new ArrayList<>();
    try {
      for (Map.Entry<String, Placeholder<TFloat32>> e : feeds.entrySet()) {
        float[] data = values.get(e.getKey());
        if (data == null) {
          throw new IllegalArgumentException("no value for " + what + e.getKey());
        }
        long[] shape = shapeOf.apply(e.getKey());
        if (data.length != Arrays.stream(shape).reduce(1, (a, b) -> a * b)) {
          throw new IllegalArgumentException(
              e.getKey() + ": " + data.length + " values do not fill shape " + Arrays.toString(shape));
        }
        Tensor t = floats(shape, data);
        tensors.add(t);
        runner.feed(e.getValue(), t);
      }
      runner.addTarget(assign).run();
    } finally {
      tensors.forEach(Tensor::close);
    }
  }

  /** A float32 tensor of {@code shape} holding {@code data} (row-major). */
  public static TFloat32 floats(long[] shape, float[] data) {
    return TFloat32.tensorOf(Shape.of(shape), DataBuffers.of(data, true, false));
  }

  /** An int32 tensor of {@code shape} holding {@code data} (row-major). */
  public static TInt32 ints(long[] shape, int[] data) {
    return TInt32.tensorOf(Shape.of(shape), DataBuffers.of(data, true, false));
  }

  /** A scalar int32 tensor. */
  public static TInt32 scalar(int value) {
    return TInt32.scalarOf(value);
  }

  /** All values of a float32 tensor, row-major; closes nothing. */
  public static float[] toFloats(Tensor t) {
    float[] out = new float[(int) t.size()];
    t.asRawTensor().data().asFloats().read(out);
    return out;
  }

  /** All values of a float64 tensor, row-major; closes nothing. */
  public static double[] toDoubles(Tensor t) {
    double[] out = new double[(int) t.size()];
    t.asRawTensor().data().asDoubles().read(out);
    return out;
  }

  /** All values of an int32 tensor, row-major; closes nothing. */
  public static int[] toInts(Tensor t) {
    int[] out = new int[(int) t.size()];
    t.asRawTensor().data().asInts().read(out);
    return out;
  }

  /**
   * Bytes per element of a tensor of type {@code type}, or of a ref variable's output ({@code *_REF}, the
   * type a {@code VariableV2} reports).
   */
  public static int bytesPerElement(org.tensorflow.proto.DataType type) {
    return switch (type) {
      case DT_BFLOAT16, DT_HALF, DT_INT16, DT_BFLOAT16_REF, DT_HALF_REF, DT_INT16_REF -> 2;
      case DT_FLOAT, DT_INT32, DT_FLOAT_REF, DT_INT32_REF -> 4;
      case DT_DOUBLE, DT_INT64, DT_DOUBLE_REF, DT_INT64_REF -> 8;
      case DT_INT8, DT_UINT8, DT_BOOL, DT_INT8_REF, DT_UINT8_REF, DT_BOOL_REF -> 1;
      default -> throw new IllegalArgumentException("no element size for " + type);
    };
  }
}
