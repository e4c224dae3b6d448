package dev.tfdpo.trainer.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The {@code devices} key (a count or names), its companions, and every refused value with its message. */
class DevicesConfigTest {

  @TempDir Path dir;

  static final String BASE = "\"model_name_or_path\": \"m\", \"train_dataset_path\": \"d.jsonl\"";

  TrainConfig load(String extraJson, String... overrides) throws IOException {
    Path f = dir.resolve("c.json");
    Files.writeString(f, "{" + BASE + (extraJson.isEmpty() ? "" : ", " + extraJson) + "}");
    return TrainConfig.load(f, List.of(overrides));
  }

  @Test
  void defaultIsOneUnplacedDevice() throws IOException {
    TrainConfig c = load("");
    assertEquals(List.of(""), c.devices());
    assertEquals(4.0, c.training().allreduceBucketMb());
    assertEquals(300.0, c.training().collectiveTimeoutS());
  }

  @Test
  void aCountIsVirtualCpuDevices() throws IOException {
    assertEquals(List.of("/device:CPU:0", "/device:CPU:1"), load("\"devices\": 2").devices());
    assertEquals(List.of("/device:CPU:0", "/device:CPU:1", "/device:CPU:2"), load("", "--devices", "3").devices());
    assertEquals(List.of(""), load("\"devices\": 1").devices());
  }

  @Test
  void ktoIsDataParallel() throws IOException {
    // KTO's KL point and class metrics are shared across replicas (KtoDataParallelTest).
    assertEquals(2, load("\"devices\": 2, \"rlhf_type\": \"kto\"").devices().size());
    assertEquals(2, load("\"rlhf_type\": \"kto\", \"loss_type\": \"apo_zero_unpaired\"", "--devices", "2")
        .devices().size());
  }

  @Test
  void namesInJsonOrOnTheCommandLine() throws IOException {
    assertEquals(List.of("/device:GPU:0", "/device:GPU:1"), load("\"devices\": [\"GPU:0\", \"gpu:1\"]").devices());
    assertEquals(List.of("/device:CPU:1", "/device:CPU:0"), load("", "--devices", "CPU:1,/device:CPU:0").devices());
  }

  /** sharding stage1 (ZeRO-1) with several devices; off by default. */
  @Test
  void shardingStage1WithSeveralDevices() throws IOException {
    assertEquals("", load("").training().sharding());
    assertEquals("stage1", load("\"devices\": 2, \"sharding\": \"stage1\"").training().sharding());
    assertEquals("stage1", load("\"devices\": 2", "--sharding", "stage1").training().sharding());
  }

  @Test
  void badValuesAreRefusedNamingTheKey() {
    for (String[] bad : new String[][] {
        {"\"devices\": [\"TPU:0\"]", "neither a device count nor a device name"},
        {"\"devices\": [\"CPU:0\", \"GPU:1\"]", "must all be CPUs or all GPUs"},
        {"\"devices\": [\"GPU:0\", \"GPU:0\"]", "listed twice"},
        {"\"devices\": 0", "at least 1"},
        {"\"devices\": 2, \"use_xla\": true", "use_xla"},
        {"\"allreduce_bucket_mb\": 0", "allreduce_bucket_mb"},
        {"\"collective_timeout_s\": -1", "collective_timeout_s"},
        {"\"sharding\": \"stage1\"", "2 or more devices"},
        {"\"sharding\": \"stage2\"", "stage1"}}) {
      ConfigException e = assertThrows(ConfigException.class, () -> load(bad[0]), bad[0]);
      assertTrue(e.getMessage().contains(bad[1]), bad[0] + ": " + e.getMessage());
      assertTrue(e.getMessage().contains(bad[0].contains("use_xla") ? "use_xla" : bad[0].substring(1, bad[0].indexOf("\"", 1))),
          e.getMessage());
    }
  }
}
