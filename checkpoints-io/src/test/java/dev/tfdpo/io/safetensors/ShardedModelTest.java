package dev.tfdpo.io.safetensors;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ShardedModelTest {

  @TempDir Path dir;

  /** Five tensors of 10 floats (40 bytes as F32) and one of 40 floats (160 bytes). */
  private static List<NamedTensor> tensors() {
    List<NamedTensor> tensors = new ArrayList<>();
    for (String name : List.of("e", "a", "c", "b", "d")) {
      float[] data = new float[10];
      for (int i = 0; i < data.length; i++) {
        data[i] = name.charAt(0) * 100 + i + 0.25f;
      }
      tensors.add(new NamedTensor(name, new long[] {2, 5}, data));
    }
    float[] big = new float[40];
    for (int i = 0; i < big.length; i++) {
      big[i] = -i;
    }
    tensors.add(new NamedTensor("big", new long[] {40}, big));
    return tensors;
  }

  private static List<String> fileNames(Path dir) throws IOException {
    try (Stream<Path> files = Files.list(dir)) {
      return files.map(p -> p.getFileName().toString()).sorted().toList();
    }
  }

  @Test
  void shardsFollowTransformersLayoutAndReadBack() throws IOException {
    List<Path> written = SafeTensorsWriter.writeModel(dir, tensors(), DType.F32, 100);

    // Name order a, b, big, c, d, e: a+b fill 80 bytes, big exceeds the limit alone, c+d, then e.
    List<String> shardNames =
        List.of(
            "model-00001-of-00004.safetensors",
            "model-00002-of-00004.safetensors",
            "model-00003-of-00004.safetensors",
            "model-00004-of-00004.safetensors");
    List<String> expectedFiles = new ArrayList<>(shardNames);
    expectedFiles.add(SafeTensorsReader.INDEX_FILE);
    assertEquals(expectedFiles, written.stream().map(p -> p.getFileName().toString()).toList());
    assertEquals(expectedFiles.stream().sorted().toList(), fileNames(dir));

    String indexText = Files.readString(dir.resolve(SafeTensorsReader.INDEX_FILE));
    String expectedStart =
        "{\n  \"metadata\": {\n    \"total_size\": 360\n  },\n  \"weight_map\": {\n    \"a\": ";
    assertTrue(indexText.startsWith(expectedStart), indexText);
    assertTrue(indexText.endsWith("}\n"));
    JsonObject weightMap = JsonParser.parseString(indexText).getAsJsonObject().getAsJsonObject("weight_map");
    assertEquals(shardNames.get(0), weightMap.get("a").getAsString());
    assertEquals(shardNames.get(0), weightMap.get("b").getAsString());
    assertEquals(shardNames.get(1), weightMap.get("big").getAsString());
    assertEquals(shardNames.get(2), weightMap.get("d").getAsString());
    assertEquals(shardNames.get(3), weightMap.get("e").getAsString());

    try (SafeTensorsReader reader = SafeTensorsReader.open(dir)) {
      assertEquals(List.of("a", "b", "big", "c", "d", "e"), List.copyOf(reader.names()));
      assertEquals(4, reader.files().size());
      assertEquals(Map.of("format", "pt", "total_size", "360"), reader.metadata());
      assertEquals(dir.resolve(shardNames.get(2)).toAbsolutePath(), reader.fileOf("c").toAbsolutePath());
      for (NamedTensor tensor : tensors()) {
        assertArrayEquals(tensor.data(), reader.readFloats(tensor.name()), tensor.name());
        assertArrayEquals(tensor.shape(), reader.info(tensor.name()).shape());
      }
    }
  }

  @Test
  void everythingWithinTheLimitIsOneFile() throws IOException {
    List<Path> written = SafeTensorsWriter.writeModel(dir, tensors(), DType.BF16, 180);
    assertEquals(List.of(dir.resolve(SafeTensorsReader.SINGLE_FILE)), written);
    try (SafeTensorsReader reader = SafeTensorsReader.open(dir)) {
      assertEquals(Map.of("format", "pt"), reader.metadata());
      assertEquals(6, reader.names().size());
      assertArrayEquals(new float[] {0f, -1f, -2f}, java.util.Arrays.copyOf(reader.readFloats("big"), 3));
    }
  }

  @Test
  void aNewSaveRemovesTheWeightFilesOfTheOldOne() throws IOException {
    Files.writeString(dir.resolve("config.json"), "{}");
    SafeTensorsWriter.writeModel(dir, tensors(), DType.F32, 100);
    SafeTensorsWriter.writeModel(dir, tensors(), DType.F32, 1_000);
    assertEquals(List.of("config.json", SafeTensorsReader.SINGLE_FILE), fileNames(dir));

    SafeTensorsWriter.writeModel(dir, tensors(), DType.F32, 240);
    assertFalse(Files.exists(dir.resolve(SafeTensorsReader.SINGLE_FILE)));
    assertEquals(
        List.of(
            "config.json",
            "model-00001-of-00002.safetensors",
            "model-00002-of-00002.safetensors",
            SafeTensorsReader.INDEX_FILE),
        fileNames(dir));
  }
}
