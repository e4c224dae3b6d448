package dev.tfdpo.io.safetensors;

import java.util.Arrays;
import java.util.Objects;

/**
 * A float tensor to write: name, shape and row-major data. The shape is copied; the data array is not
 * (weights can be gigabytes), so callers must not change it until the write has returned.
 */
public record NamedTensor(String name, long[] shape, float[] data) implements TensorSource {

  /** Checks that the data length matches the shape. */
  public NamedTensor {
    Objects.requireNonNull(name, "name");
    Objects.requireNonNull(data, "data");
    shape = Objects.requireNonNull(shape, "shape").clone();
    long count = 1;
    for (long dim : shape) {
      if (dim < 0) {
        throw new IllegalArgumentException(
            "tensor " + name + ": shape " + Arrays.toString(shape) + " has a negative dimension");
      }
      count = Math.multiplyExact(count, dim);
    }
    if (count != data.length) {
      throw new IllegalArgumentException(
          "tensor " + name + ": shape " + Arrays.toString(shape) + " holds " + count
              + " elements but the data has " + data.length);
    }
  }

  /** A copy of the shape. */
  @Override
  public long[] shape() {
    return shape.clone();
  }

  /** The whole array as one chunk. */
  @Override
  public void stream(Chunks sink) throws java.io.IOException {
    sink.accept(data, data.length);
  }

  @Override
  public boolean equals(Object other) {
    return other instanceof NamedTensor that
        && name.equals(that.name)
        && Arrays.equals(shape, that.shape)
        && Arrays.equals(data, that.data);
  }

  @Override
  public int hashCode() {
    return Objects.hash(name, Arrays.hashCode(shape), Arrays.hashCode(data));
  }

  @Override
  public String toString() {
    return name + " " + Arrays.toString(shape);
  }
}
