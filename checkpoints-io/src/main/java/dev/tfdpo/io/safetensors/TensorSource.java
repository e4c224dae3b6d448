package dev.tfdpo.io.safetensors;

import java.io.IOException;

/**
 * A float tensor that {@link SafeTensorsWriter} writes without holding it whole on the Java heap: its
 * name and shape up front, its values streamed in row-major chunks when the writer gets to it (from a
 * live TensorFlow variable, a memory map or an array). {@link NamedTensor} is the array-backed one.
 */
public interface TensorSource {

  /** The tensor's name in the file. */
  String name();

  /** Its shape (a copy the caller may keep). */
  long[] shape();

  /**
   * Streams every value, in row-major order, to {@code sink} in one or more chunks; called once per write.
   *
   * @throws IOException when the values cannot be produced
   */
  void stream(Chunks sink) throws IOException;

  /** Number of values, the product of the shape. */
  default long elementCount() {
    long n = 1;
    for (long d : shape()) {
      n = Math.multiplyExact(n, d);
    }
    return n;
  }

  /** Receives a tensor's values chunk by chunk. */
  @FunctionalInterface
  interface Chunks {
    /** The next {@code length} values, {@code values[0..length)}; the array may be reused after the call. */
    void accept(float[] values, int length) throws IOException;
  }
}
