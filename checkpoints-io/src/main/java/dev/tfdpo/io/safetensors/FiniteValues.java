package dev.tfdpo.io.safetensors;

import java.io.IOException;

/**
 * Refuses NaN and infinite weights. A non-finite weight would only show as a non-finite loss at step 1,
 * blamed on the data rows; here it is an error naming the file, the tensor and the element.
 */
public final class FiniteValues {

  /** Values read per chunk by {@link #check(SafeTensorsReader)}: 4 MB of heap, whatever the model. */
  static final int CHUNK_FLOATS = 1 << 20;

  private FiniteValues() {}

  /**
   * Reads every floating-point tensor of {@code reader} a chunk at a time (the heap never holds a
   * tensor) and throws at the first non-finite value. Used before a run writes anything, so a damaged
   * model is refused while {@code output_dir} is untouched.
   */
  public static void check(SafeTensorsReader reader) throws IOException {
    float[] chunk = new float[CHUNK_FLOATS];
    for (String name : reader.names()) {
      if (reader.info(name).dtype().isFloatingPoint()) {
        reader.readFloatChunks(name, chunk, (values, count, first) -> check(reader, name, values, count, first));
      }
    }
  }

  /** Throws if one of {@code values[0..count)}, elements {@code first..} of tensor {@code name}, is not finite. */
  public static void check(SafeTensorsReader reader, String name, float[] values, int count, long first)
      throws SafeTensorsException {
    for (int i = 0; i < count; i++) {
      if (!Float.isFinite(values[i])) {
        throw new SafeTensorsException(reader.fileOf(name), name, "holds " + values[i] + " at element " + (first + i)
            + "; the checkpoint is damaged or was saved from a diverged run: use another one");
      }
    }
  }
}
