package dev.tfdpo.io.safetensors;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The paths that matter beyond 2 GiB, exercised without writing gigabytes. */
class LargeTensorTest {

  @TempDir Path dir;

  @Test
  void tensorsReadInSlicesMatchWholeReads() throws IOException {
    float[] odd = new float[13];
    for (int i = 0; i < odd.length; i++) {
      odd[i] = i * 1.25f - 3;
    }
    List<NamedTensor> tensors = List.of(new NamedTensor("odd", new long[] {13}, odd));
    Path f32 = dir.resolve("f32.safetensors");
    Path bf16 = dir.resolve("bf16.safetensors");
    SafeTensorsWriter.write(f32, tensors, DType.F32, null);
    SafeTensorsWriter.write(bf16, tensors, DType.BF16, null);
    for (Path file : List.of(f32, bf16)) {
      try (SafeTensorsReader whole = SafeTensorsReader.open(file);
          SafeTensorsReader sliced = SafeTensorsReader.open(file, 8)) {
        assertArrayEquals(whole.readFloats("odd"), sliced.readFloats("odd"), file.toString());
      }
    }
    String header = "{\"ids\":{\"dtype\":\"I64\",\"shape\":[3],\"data_offsets\":[0,24]}}";
    Path ids = SafeTensorsFiles.write(dir, "ids.safetensors", header, SafeTensorsFiles.longs(7, -8, 9));
    try (SafeTensorsReader sliced = SafeTensorsReader.open(ids, 8)) {
      assertArrayEquals(new long[] {7, -8, 9}, sliced.readLongs("ids"));
    }
  }

  /**
   * A sparse 3 GiB file (the hole costs no disk): a tensor that starts beyond 2 GiB reads fine, and one too
   * large for a Java array or a single buffer is refused with a message, not an exception from deep inside.
   */
  @Test
  void sparseFileBeyondTwoGibibytes() throws IOException {
    long padBytes = 3L << 30;
    String headerJson =
        "{\"pad\":{\"dtype\":\"U8\",\"shape\":[" + padBytes + "],\"data_offsets\":[0," + padBytes + "]},"
            + "\"tail\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[" + padBytes + ","
            + (padBytes + 8) + "]}}";
    byte[] header = headerJson.getBytes(StandardCharsets.UTF_8);
    Path file = dir.resolve("sparse.safetensors");
    try (FileChannel channel =
        FileChannel.open(file, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
      ByteBuffer prefix = ByteBuffer.allocate(8 + header.length).order(ByteOrder.LITTLE_ENDIAN);
      prefix.putLong(header.length).put(header).flip();
      channel.write(prefix, 0);
      channel.write(ByteBuffer.wrap(SafeTensorsFiles.floats(1.5f, -2.5f)), 8 + header.length + padBytes);
    }
    assertTrue(Files.size(file) > padBytes);

    try (SafeTensorsReader reader = SafeTensorsReader.open(file)) {
      assertArrayEquals(new float[] {1.5f, -2.5f}, reader.readFloats("tail"));
      assertEquals(-2.5f, reader.rawBytes("tail").getFloat(4));
      SafeTensorsException array = assertThrows(SafeTensorsException.class, () -> reader.readLongs("pad"));
      assertTrue(array.getMessage().contains("more than a Java array holds"), array.getMessage());
      SafeTensorsException buffer = assertThrows(SafeTensorsException.class, () -> reader.rawBytes("pad"));
      assertTrue(buffer.getMessage().contains("more than one ByteBuffer holds"), buffer.getMessage());
    }
  }
}
