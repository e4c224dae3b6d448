package dev.tfdpo.io.checkpoint;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

/** Small checkpoint contents and directory listings for the tests. */
final class CheckpointFixtures {

  private CheckpointFixtures() {}

  /** Content writing each map entry as a UTF-8 file (keys may contain '/'). */
  static CheckpointWriter.Content files(Map<String, String> files) {
    return dir -> {
      for (Map.Entry<String, String> file : files.entrySet()) {
        Path path = dir.resolve(file.getKey());
        Files.createDirectories(path.getParent());
        Files.writeString(path, file.getValue(), StandardCharsets.UTF_8);
      }
    };
  }

  /** A typical small checkpoint whose content depends on the step. */
  static CheckpointWriter.Content stepContent(long step) {
    return files(
        Map.of(
            "model.safetensors", "weights at step " + step,
            "optimizer/state.bin", "adam moments " + step,
            "trainer_state.json", "{\"global_step\": " + step + "}"));
  }

  /** Names of the entries of {@code dir}, sorted. */
  static List<String> entries(Path dir) throws IOException {
    try (Stream<Path> list = Files.list(dir)) {
      return list.map(p -> p.getFileName().toString()).sorted().toList();
    }
  }
}
