package dev.tfdpo.trainer;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.google.gson.JsonObject;
import dev.tfdpo.trainer.config.TrainConfig;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The identity a task publishes for the chief's start-up comparison ({@link ClusterWatch}): the resolved
 * config without the per-task keys, and the data files' contents (not their paths).
 */
class ClusterWatchTest {

  @TempDir Path work;

  private JsonObject identity(Path data, String... extra) throws Exception {
    List<String> args = new java.util.ArrayList<>(List.of("--train_dataset_path", data.toString()));
    args.addAll(List.of(extra));
    return ClusterWatch.identity(TrainConfig.load(ProjectPaths.root().resolve("configs/default.json"), args));
  }

  @Test
  void perTaskKeysAndDataPathsDoNotDifferButContentsAndMathDo() throws Exception {
    Path a = Files.writeString(work.resolve("a.jsonl"), "{\"x\": 1}\n");
    Path b = Files.writeString(work.resolve("b.jsonl"), "{\"x\": 1}\n");
    Path c = Files.writeString(work.resolve("c.jsonl"), "{\"x\": 2}\n");
    JsonObject chief = identity(a, "--output_dir", "out0", "--num_threads", "4");
    // The same contents elsewhere, its own output_dir and threads: no difference.
    assertEquals(List.of(), ClusterWatch.differences(chief, identity(b, "--output_dir", "out1", "--num_threads", "1"), 1));
    List<String> d = ClusterWatch.differences(chief, identity(c, "--beta", "0.25"), 1);
    assertEquals(2, d.size(), d.toString());
    assertEquals("  beta: chief 0.1, task 1 0.25", d.get(0));
    assertEquals("  contents of train_dataset_path: chief \"" + ClusterWatch.checksum(a) + "\", task 1 \""
        + ClusterWatch.checksum(c) + "\"", d.get(1));
    // The check value of CRC-32C (Castagnoli) for the ASCII string "123456789" is e3069283 (RFC 3720, B.4).
    assertEquals("crc32c:e3069283 bytes:9", ClusterWatch.checksum(Files.writeString(work.resolve("check"), "123456789")));
    assertEquals("missing", ClusterWatch.checksum(work.resolve("none")));
  }
}
