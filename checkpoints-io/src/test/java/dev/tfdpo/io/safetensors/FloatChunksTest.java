package dev.tfdpo.io.safetensors;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Chunked reads give exactly what whole-tensor reads give, for every stored float format. */
class FloatChunksTest {

  @TempDir Path dir;

  @Test
  void chunksEqualTheWholeTensor() throws IOException {
    float[] values = new float[1003]; // not a multiple of the chunk
    for (int i = 0; i < values.length; i++) {
      values[i] = (float) Math.sin(i) * (i % 7 == 0 ? 1e4f : 1f);
    }
    for (DType dtype : List.of(DType.F32, DType.BF16, DType.F16)) {
      Path file = dir.resolve(dtype + ".safetensors");
      SafeTensorsWriter.write(file,
          List.of(new NamedTensor("a", new long[] {3}, new float[] {1, 2, 3}),
              new NamedTensor("w", new long[] {17, 59}, values)), dtype, Map.of());
      try (SafeTensorsReader reader = SafeTensorsReader.open(file)) {
        float[] whole = reader.readFloats("w");
        float[] assembled = new float[whole.length];
        int[] calls = {0};
        reader.readFloatChunks("w", new float[100], (chunk, count, first) -> {
          System.arraycopy(chunk, 0, assembled, (int) first, count);
          calls[0]++;
        });
        assertArrayEquals(whole, assembled, dtype.toString());
        assertEquals(11, calls[0], "ceil(1003 / 100) chunks");
      }
    }
  }
}
