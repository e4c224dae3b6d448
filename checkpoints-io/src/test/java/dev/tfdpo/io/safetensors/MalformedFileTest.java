package dev.tfdpo.io.safetensors;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Every malformed input gives a {@link SafeTensorsException} naming the file, tensor and problem. */
class MalformedFileTest {

  @TempDir Path dir;

  private static final byte[] TWELVE_BYTES = SafeTensorsFiles.floats(1, 2, 3);

  private SafeTensorsException openFails(Path file) {
    return assertThrows(SafeTensorsException.class, () -> SafeTensorsReader.open(file).close());
  }

  private static void assertMentions(SafeTensorsException e, Path file, String tensor, String... fragments) {
    String message = e.getMessage();
    assertEquals(file, e.file(), message);
    assertTrue(message.startsWith(file.toString()), message);
    assertEquals(Optional.ofNullable(tensor), e.tensor(), message);
    if (tensor != null) {
      assertTrue(message.contains("'" + tensor + "'"), message);
    }
    for (String fragment : fragments) {
      assertTrue(message.contains(fragment), () -> "'" + fragment + "' missing from: " + message);
    }
  }

  /** The header entry of a tensor named {@code w}. */
  private static String entry(String dtype, String shape, String offsets) {
    return "\"w\": {\"dtype\": \"" + dtype + "\", \"shape\": " + shape + ", \"data_offsets\": " + offsets
        + "}";
  }

  private Path declaring(String name, long declaredLength, byte[] header) throws IOException {
    return SafeTensorsFiles.writeWithDeclaredLength(dir, name, declaredLength, header, new byte[0]);
  }

  private Path tensorFile(String entry, byte[] data) throws IOException {
    return SafeTensorsFiles.write(dir, "bad.safetensors", "{" + entry + "}", data);
  }

  @Test
  void fileShorterThanTheLengthField() throws IOException {
    Path file = Files.write(dir.resolve("short.safetensors"), new byte[] {1, 2, 3, 4, 5});
    assertMentions(openFails(file), file, null, "5 bytes long", "shorter than the 8-byte header length");
  }

  @Test
  void headerLengthBeyondTheFileIsRefusedBeforeAllocating() throws IOException {
    Path huge = declaring("huge.safetensors", 1L << 60, new byte[8]);
    assertMentions(openFails(huge), huge, null, "says 1152921504606846976 bytes", "only 8 bytes follow");

    Path unsigned = declaring("neg.safetensors", -1L, new byte[0]);
    assertMentions(openFails(unsigned), unsigned, null, "says 18446744073709551615 bytes");

    byte[] header = "{}".getBytes(StandardCharsets.UTF_8);
    Path offByOne = declaring("one.safetensors", 3, header);
    assertMentions(openFails(offByOne), offByOne, null, "says 3 bytes", "only 2 bytes follow");
  }

  @Test
  void headerThatIsNotJson() throws IOException {
    Path garbage = SafeTensorsFiles.write(dir, "g.safetensors", "{\"a\": {dtype: F32}", new byte[0]);
    assertMentions(openFails(garbage), garbage, null, "header is not valid JSON");

    Path trailing = SafeTensorsFiles.write(dir, "t.safetensors", "{} {}", new byte[0]);
    assertMentions(openFails(trailing), trailing, null, "header");

    Path binary = declaring("b.safetensors", 2, new byte[] {(byte) 0xC3, 0x28});
    assertMentions(openFails(binary), binary, null, "not valid UTF-8");
  }

  @Test
  void headerThatIsNotAnObject() throws IOException {
    Path array = SafeTensorsFiles.write(dir, "arr.safetensors", "[1, 2]", new byte[0]);
    assertMentions(openFails(array), array, null, "must be a JSON object", "[1,2]");

    Path entry = tensorFile("\"w\": [1]", new byte[0]);
    assertMentions(openFails(entry), entry, "w", "must be an object with dtype, shape and data_offsets");

    String numericMetadata = "{\"__metadata__\": {\"step\": 3}}";
    Path metadata = SafeTensorsFiles.write(dir, "m.safetensors", numericMetadata, new byte[0]);
    assertMentions(openFails(metadata), metadata, null, "value for key 'step' must be a string");
  }

  @Test
  void unknownDtype() throws IOException {
    Path file = tensorFile(entry("F8_E4M3", "[3]", "[0, 3]"), new byte[3]);
    assertMentions(openFails(file), file, "w", "dtype \"F8_E4M3\" is not supported", "BF16");
  }

  @Test
  void offsetsPastTheDataBuffer() throws IOException {
    Path file = tensorFile(entry("F32", "[4]", "[0, 16]"), TWELVE_BYTES);
    assertMentions(openFails(file), file, "w", "[0, 16]", "run past the end of the 12-byte data buffer");
  }

  @Test
  void offsetsEndingBeforeTheyBegin() throws IOException {
    Path file = tensorFile(entry("F32", "[1]", "[8, 4]"), TWELVE_BYTES);
    assertMentions(openFails(file), file, "w", "[8, 4] end before they begin");
  }

  @Test
  void offsetsDisagreeingWithTheShape() throws IOException {
    Path file = tensorFile(entry("F32", "[3]", "[0, 8]"), TWELVE_BYTES);
    assertMentions(openFails(file), file, "w", "span 8 bytes, but shape [3] of F32 needs 12");
  }

  @Test
  void overlappingOffsets() throws IOException {
    Path file =
        tensorFile(
            "\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]},"
                + "\"b\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [4, 12]}",
            TWELVE_BYTES);
    assertMentions(openFails(file), file, "b", "[4, 12) overlap tensor 'a' at [0, 8)");
  }

  @Test
  void negativeOrFractionalOffsets() throws IOException {
    Path negative = tensorFile(entry("F32", "[1]", "[-4, 0]"), TWELVE_BYTES);
    assertMentions(openFails(negative), negative, "w", "offsets that are not non-negative integers");

    Path fractional = tensorFile(entry("F32", "[1]", "[0.5, 4]"), TWELVE_BYTES);
    assertMentions(openFails(fractional), fractional, "w", "not non-negative integers");

    Path three = tensorFile(entry("F32", "[1]", "[0, 4, 8]"), TWELVE_BYTES);
    assertMentions(openFails(three), three, "w", "must hold 2 integers");
  }

  @Test
  void negativeDimensions() throws IOException {
    Path file = tensorFile(entry("F32", "[3, -1]", "[0, 12]"), TWELVE_BYTES);
    assertMentions(openFails(file), file, "w", "\"shape\" [3,-1] has dimensions that are not non-negative");
  }

  @Test
  void shapeTooLargeToAddress() throws IOException {
    Path file = tensorFile(entry("F32", "[4294967296, 4294967296]", "[0, 12]"), TWELVE_BYTES);
    assertMentions(openFails(file), file, "w", "too large to address");
  }

  @Test
  void unknownTensorNameListsCloseNames() throws IOException {
    Path file = dir.resolve("w.safetensors");
    SafeTensorsWriter.write(
        file,
        List.of(
            new NamedTensor("model.layers.0.mlp.up_proj.weight", new long[] {1}, new float[] {1}),
            new NamedTensor("model.layers.0.mlp.down_proj.weight", new long[] {1}, new float[] {1}),
            new NamedTensor("lm_head.weight", new long[] {1}, new float[] {1})),
        DType.F32,
        null);
    try (SafeTensorsReader reader = SafeTensorsReader.open(file)) {
      String typo = "model.layers.0.mlp.up_proj.weights";
      SafeTensorsException e = assertThrows(SafeTensorsException.class, () -> reader.readFloats(typo));
      assertMentions(
          e,
          file,
          typo,
          "no tensor of that name among the 3 tensors",
          "closest: model.layers.0.mlp.up_proj.weight, model.layers.0.mlp.down_proj.weight");
    }
  }

  @Test
  void readFloatsOnIntegersAndReadLongsOnFloats() throws IOException {
    String header =
        "{\"ids\": {\"dtype\": \"I64\", \"shape\": [1], \"data_offsets\": [0, 8]},"
            + "\"w\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [8, 12]}}";
    Path file = SafeTensorsFiles.write(dir, "mixed.safetensors", header, new byte[12]);
    try (SafeTensorsReader reader = SafeTensorsReader.open(file)) {
      SafeTensorsException floats = assertThrows(SafeTensorsException.class, () -> reader.readFloats("ids"));
      assertMentions(floats, file, "ids", "integer dtype I64", "use readLongs");
      SafeTensorsException longs = assertThrows(SafeTensorsException.class, () -> reader.readLongs("w"));
      assertMentions(longs, file, "w", "floating-point dtype F32", "use readFloats");
    }
  }

  @Test
  void indexNamingAMissingShard() throws IOException {
    SafeTensorsWriter.write(
        dir.resolve("model-00001-of-00002.safetensors"),
        List.of(new NamedTensor("a", new long[] {1}, new float[] {1})),
        DType.F32,
        SafeTensorsWriter.PT_METADATA);
    Path index =
        Files.writeString(
            dir.resolve(SafeTensorsReader.INDEX_FILE),
            "{\"metadata\": {\"total_size\": 8}, \"weight_map\": {"
                + "\"a\": \"model-00001-of-00002.safetensors\","
                + " \"b\": \"model-00002-of-00002.safetensors\"}}");
    SafeTensorsException e = assertThrows(SafeTensorsException.class, () -> SafeTensorsReader.open(dir));
    assertMentions(e, index, "b", "model-00002-of-00002.safetensors, which does not exist");
  }

  @Test
  void indexNamingATensorItsShardLacks() throws IOException {
    SafeTensorsWriter.write(
        dir.resolve("model-00001-of-00001.safetensors"),
        List.of(new NamedTensor("alpha", new long[] {1}, new float[] {1})),
        DType.F32,
        SafeTensorsWriter.PT_METADATA);
    Path index =
        Files.writeString(
            dir.resolve(SafeTensorsReader.INDEX_FILE),
            "{\"metadata\": {}, \"weight_map\": {\"alpa\": \"model-00001-of-00001.safetensors\"}}");
    SafeTensorsException e = assertThrows(SafeTensorsException.class, () -> SafeTensorsReader.open(dir));
    assertMentions(
        e,
        index,
        "alpa",
        "shard model-00001-of-00001.safetensors, but that shard has no such tensor",
        "closest: alpha");
  }

  @Test
  void indexEscapingItsDirectoryOrLackingAWeightMap() throws IOException {
    Path index = dir.resolve(SafeTensorsReader.INDEX_FILE);
    Files.writeString(index, "{\"weight_map\": {\"a\": \"../x\"}}");
    assertMentions(assertThrows(SafeTensorsException.class, () -> SafeTensorsReader.open(dir)), index, "a",
        "not a plain file name");

    Files.writeString(index, "{\"metadata\": {}}");
    assertMentions(assertThrows(SafeTensorsException.class, () -> SafeTensorsReader.open(dir)), index, null,
        "no \"weight_map\" object");
  }

  @Test
  void directoryWithoutWeights() {
    SafeTensorsException e = assertThrows(SafeTensorsException.class, () -> SafeTensorsReader.open(dir));
    assertMentions(e, dir, null, "neither model.safetensors nor model.safetensors.index.json");
  }
}
