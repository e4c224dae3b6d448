package dev.tfdpo.io.safetensors;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SafeTensorsRoundTripTest {

  @TempDir Path dir;

  private static int[] rawBits(float[] values) {
    int[] bits = new int[values.length];
    for (int i = 0; i < values.length; i++) {
      bits[i] = Float.floatToRawIntBits(values[i]);
    }
    return bits;
  }

  private static NamedTensor scalar(String name, float value) {
    return new NamedTensor(name, new long[] {1}, new float[] {value});
  }

  private static float bitsToFloat(int raw) {
    return Float.intBitsToFloat(raw);
  }

  @Test
  void f32RoundTripIsBitwiseExact() throws IOException {
    float nanWithPayload = bitsToFloat(0x7FC0_1234);
    float[] weights = {
      1.5f, -0.0f, Float.MIN_VALUE, Float.MAX_VALUE, Float.NEGATIVE_INFINITY, nanWithPayload, 0.1f
    };
    float[] bias = {3f, 4f};
    Path file = dir.resolve("w.safetensors");
    SafeTensorsWriter.write(
        file,
        List.of(new NamedTensor("w", new long[] {7}, weights), new NamedTensor("b", new long[] {1, 2}, bias)),
        DType.F32,
        Map.of("format", "pt", "note", "round trip"));

    try (SafeTensorsReader reader = SafeTensorsReader.open(file)) {
      assertEquals(List.of("b", "w"), List.copyOf(reader.names()));
      assertEquals(Map.of("format", "pt", "note", "round trip"), reader.metadata());
      assertEquals(new TensorInfo("b", DType.F32, new long[] {1, 2}, 0, 8), reader.info("b"));
      assertEquals(new TensorInfo("w", DType.F32, new long[] {7}, 8, 36), reader.info("w"));
      assertArrayEquals(rawBits(weights), rawBits(reader.readFloats("w")));
      assertArrayEquals(rawBits(bias), rawBits(reader.readFloats("b")));
      ByteBuffer raw = reader.rawBytes("b");
      assertEquals(ByteOrder.LITTLE_ENDIAN, raw.order());
      assertEquals(8, raw.remaining());
      assertEquals(4f, raw.getFloat(4));
    }
  }

  @Test
  void bf16RoundTripGivesTorchRoundedValues() throws IOException {
    float[] input = {
      1.0f,
      bitsToFloat(0x3F80_8000), // halfway, rounds down to even
      bitsToFloat(0x3F81_8000), // halfway, rounds up to even
      bitsToFloat(0x3F80_8001), // just above halfway
      bitsToFloat(0x0001_8000), // subnormal, halfway, rounds up to even
      bitsToFloat(0x0000_8000), // subnormal, halfway, rounds down to zero
      Float.POSITIVE_INFINITY,
      Float.NEGATIVE_INFINITY,
      Float.NaN,
      -0.0f,
      Float.MAX_VALUE
    };
    int[] expectedBf16 = {
      0x3F80, 0x3F80, 0x3F82, 0x3F81, 0x0002, 0x0000, 0x7F80, 0xFF80, 0x7FC0, 0x8000, 0x7F80
    };
    Path file = dir.resolve("bf16.safetensors");
    SafeTensorsWriter.write(file, List.of(new NamedTensor("x", new long[] {11}, input)), DType.BF16, null);

    try (SafeTensorsReader reader = SafeTensorsReader.open(file)) {
      assertEquals(DType.BF16, reader.info("x").dtype());
      assertEquals(22, reader.info("x").byteLength());
      assertEquals(Map.of(), reader.metadata());
      int[] expectedFloatBits = new int[expectedBf16.length];
      for (int i = 0; i < expectedBf16.length; i++) {
        expectedFloatBits[i] = expectedBf16[i] << 16;
      }
      assertArrayEquals(expectedFloatBits, rawBits(reader.readFloats("x")));
      ByteBuffer raw = reader.rawBytes("x");
      for (int i = 0; i < expectedBf16.length; i++) {
        assertEquals((short) expectedBf16[i], raw.getShort(2 * i), "element " + i);
      }
    }
  }

  @Test
  void f16RoundTripGivesRoundedValues() throws IOException {
    float[] input = {1.0f, 0x1.555556p-2f, 65520.0f, 0x1.8p-25f, -0.0f, 0x1.99999ap-4f};
    float[] expected = {1.0f, 0x1.554p-2f, Float.POSITIVE_INFINITY, 0x1p-24f, -0.0f, 0x1.998p-4f};
    Path file = dir.resolve("f16.safetensors");
    NamedTensor tensor = new NamedTensor("h", new long[] {2, 3}, input);
    SafeTensorsWriter.write(file, List.of(tensor), DType.F16, Map.of());
    try (SafeTensorsReader reader = SafeTensorsReader.open(file)) {
      assertEquals(DType.F16, reader.info("h").dtype());
      assertArrayEquals(rawBits(expected), rawBits(reader.readFloats("h")));
    }
  }

  @Test
  void headerIsCompactSortedPaddedAndDeterministic() throws IOException {
    NamedTensor a = new NamedTensor("a", new long[] {2}, new float[] {1, 2});
    NamedTensor scalar = new NamedTensor("b.scalar", new long[] {}, new float[] {5});
    NamedTensor empty = new NamedTensor("c.empty", new long[] {0, 3}, new float[0]);
    Path first = dir.resolve("first.safetensors");
    Path second = dir.resolve("second.safetensors");
    SafeTensorsWriter.write(first, List.of(a, scalar, empty), DType.F32, SafeTensorsWriter.PT_METADATA);
    SafeTensorsWriter.write(second, List.of(empty, scalar, a), DType.F32, SafeTensorsWriter.PT_METADATA);

    byte[] bytes = Files.readAllBytes(first);
    assertArrayEquals(bytes, Files.readAllBytes(second));
    long headerLength = ByteBuffer.wrap(bytes, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
    assertEquals(0, headerLength % 8);
    String header = new String(bytes, 8, (int) headerLength, StandardCharsets.UTF_8);
    String expectedJson =
        "{\"__metadata__\":{\"format\":\"pt\"},"
            + "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
            + "\"b.scalar\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[8,12]},"
            + "\"c.empty\":{\"dtype\":\"F32\",\"shape\":[0,3],\"data_offsets\":[12,12]}}";
    assertEquals(expectedJson, header.stripTrailing());
    String padding = header.substring(expectedJson.length());
    assertEquals(" ".repeat(padding.length()), padding);
    assertEquals(8 + headerLength + 12, bytes.length);

    try (SafeTensorsReader reader = SafeTensorsReader.open(first)) {
      assertArrayEquals(new float[] {5}, reader.readFloats("b.scalar"));
      assertArrayEquals(new float[0], reader.readFloats("c.empty"));
      assertEquals(1, reader.info("b.scalar").numElements());
    }
    try (Stream<Path> files = Files.list(dir)) {
      assertEquals(2, files.count(), "no temporaries may be left behind");
    }
  }

  @Test
  void rewritingReplacesTheFile() throws IOException {
    Path file = dir.resolve("w.safetensors");
    SafeTensorsWriter.write(file, List.of(scalar("w", 1)), DType.F32, null);
    SafeTensorsWriter.write(file, List.of(scalar("w", 2)), DType.F32, null);
    try (SafeTensorsReader reader = SafeTensorsReader.open(file)) {
      assertArrayEquals(new float[] {2}, reader.readFloats("w"));
    }
  }

  @Test
  void integerTensorsReadAsLongs() throws IOException {
    String header =
        "{\"i64\":{\"dtype\":\"I64\",\"shape\":[2],\"data_offsets\":[0,16]},"
            + "\"i32\":{\"dtype\":\"I32\",\"shape\":[2],\"data_offsets\":[16,24]},"
            + "\"i8\":{\"dtype\":\"I8\",\"shape\":[2],\"data_offsets\":[24,26]},"
            + "\"u8\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[26,27]},"
            + "\"mask\":{\"dtype\":\"BOOL\",\"shape\":[1],\"data_offsets\":[27,28]}}";
    byte[] data =
        SafeTensorsFiles.concat(
            SafeTensorsFiles.longs(Long.MIN_VALUE, 128_256L),
            SafeTensorsFiles.ints(-7, 2_000_000_000),
            new byte[] {-1, 5, (byte) 200, 1});
    Path file = SafeTensorsFiles.write(dir, "ints.safetensors", header, data);
    try (SafeTensorsReader reader = SafeTensorsReader.open(file)) {
      assertArrayEquals(new long[] {Long.MIN_VALUE, 128_256L}, reader.readLongs("i64"));
      assertArrayEquals(new long[] {-7, 2_000_000_000}, reader.readLongs("i32"));
      assertArrayEquals(new long[] {-1, 5}, reader.readLongs("i8"));
      assertArrayEquals(new long[] {200}, reader.readLongs("u8"));
      assertArrayEquals(new long[] {1}, reader.readLongs("mask"));
    }
  }

  @Test
  void readingAfterCloseIsRefused() throws IOException {
    Path file = dir.resolve("w.safetensors");
    SafeTensorsWriter.write(file, List.of(scalar("w", 1)), DType.F32, null);
    SafeTensorsReader reader = SafeTensorsReader.open(file);
    reader.close();
    assertThrows(IllegalStateException.class, () -> reader.readFloats("w"));
  }

  @Test
  void writerRejectsDuplicateNamesAndIntegerStorage() {
    NamedTensor w = scalar("w", 1);
    Path file = dir.resolve("w.safetensors");
    assertThrows(
        IllegalArgumentException.class, () -> SafeTensorsWriter.write(file, List.of(w, w), DType.F32, null));
    assertThrows(
        IllegalArgumentException.class, () -> SafeTensorsWriter.write(file, List.of(w), DType.I32, null));
    assertThrows(IllegalArgumentException.class, () -> new NamedTensor("x", new long[] {2, 2}, new float[3]));
  }
}
