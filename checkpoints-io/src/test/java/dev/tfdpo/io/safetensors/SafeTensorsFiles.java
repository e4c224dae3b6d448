package dev.tfdpo.io.safetensors;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/** Builds safetensors files byte by byte, so tests can state exactly what is malformed. */
final class SafeTensorsFiles {

  private SafeTensorsFiles() {}

  /** A file with header {@code headerJson} (length field telling the truth) followed by {@code data}. */
  static Path write(Path dir, String name, String headerJson, byte[] data) throws IOException {
    byte[] header = headerJson.getBytes(StandardCharsets.UTF_8);
    return writeWithDeclaredLength(dir, name, header.length, header, data);
  }

  /** A file with an arbitrary header length field, for lying headers. */
  static Path writeWithDeclaredLength(Path dir, String name, long declaredLength, byte[] header, byte[] data)
      throws IOException {
    ByteBuffer bytes =
        ByteBuffer.allocate(Long.BYTES + header.length + data.length).order(ByteOrder.LITTLE_ENDIAN);
    bytes.putLong(declaredLength).put(header).put(data);
    Path file = dir.resolve(name);
    Files.write(file, bytes.array());
    return file;
  }

  /** Little-endian bytes of {@code values}. */
  static byte[] floats(float... values) {
    ByteBuffer bytes = ByteBuffer.allocate(values.length * Float.BYTES).order(ByteOrder.LITTLE_ENDIAN);
    for (float value : values) {
      bytes.putFloat(value);
    }
    return bytes.array();
  }

  /** Little-endian bytes of {@code values}. */
  static byte[] longs(long... values) {
    ByteBuffer bytes = ByteBuffer.allocate(values.length * Long.BYTES).order(ByteOrder.LITTLE_ENDIAN);
    for (long value : values) {
      bytes.putLong(value);
    }
    return bytes.array();
  }

  /** Little-endian bytes of {@code values}. */
  static byte[] ints(int... values) {
    ByteBuffer bytes = ByteBuffer.allocate(values.length * Integer.BYTES).order(ByteOrder.LITTLE_ENDIAN);
    for (int value : values) {
      bytes.putInt(value);
    }
    return bytes.array();
  }

  /** Concatenation of byte arrays. */
  static byte[] concat(byte[]... parts) {
    int length = 0;
    for (byte[] part : parts) {
      length += part.length;
    }
    ByteBuffer joined = ByteBuffer.allocate(length);
    for (byte[] part : parts) {
      joined.put(part);
    }
    return joined.array();
  }
}
