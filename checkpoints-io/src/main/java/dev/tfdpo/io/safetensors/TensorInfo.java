package dev.tfdpo.io.safetensors;

import java.util.Arrays;
import java.util.Objects;

/**
 * One tensor's header entry: its type, shape and byte range {@code [begin, end)} in the data buffer
 * (offsets count from the first byte after the header, as in the file). Validated by the reader, so {@code
 * end - begin} equals {@link #numElements()} times the element size.
 */
public record TensorInfo(String name, DType dtype, long[] shape, long begin, long end) {

  /** Copies {@code shape} so the record stays immutable. */
  public TensorInfo {
    Objects.requireNonNull(name, "name");
    Objects.requireNonNull(dtype, "dtype");
    shape = Objects.requireNonNull(shape, "shape").clone();
  }

  /** A copy of the shape. */
  @Override
  public long[] shape() {
    return shape.clone();
  }

  /** Product of the dimensions (1 for a scalar). */
  public long numElements() {
    long count = 1;
    for (long dim : shape) {
      count = Math.multiplyExact(count, dim);
    }
    return count;
  }

  /** Size of the tensor's data in bytes. */
  public long byteLength() {
    return end - begin;
  }

  @Override
  public boolean equals(Object other) {
    return other instanceof TensorInfo that
        && name.equals(that.name)
        && dtype == that.dtype
        && Arrays.equals(shape, that.shape)
        && begin == that.begin
        && end == that.end;
  }

  @Override
  public int hashCode() {
    return Objects.hash(name, dtype, Arrays.hashCode(shape), begin, end);
  }

  @Override
  public String toString() {
    return name + " " + dtype + " " + Arrays.toString(shape) + " bytes [" + begin + ", " + end + ")";
  }
}
