package dev.tfdpo.e2e;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonObject;
import dev.tfdpo.trainer.DpoTrainer;
import dev.tfdpo.trainer.config.TrainConfig;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.util.ArrayList;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code --sharding stage1} through the trainer: the 16-step TRL run ({@code golden/a-sigmoid}) with two
 * replicas of 2 pairs on two virtual CPU devices and the AdamW moments split across them reproduces the
 * TRL curve within the one-process bounds ({@link CurveParity}), as {@link DataParallelCurveTest} does
 * unsharded (the graph-level bitwise equality is ShardedOptimizerTest's).
 */
class ShardedCurveTest {

  @TempDir static Path out;

  @Test
  void shardedReplicasReproduceTheTrlCurve() throws Exception {
    TrainConfig config = TrainConfig.load(DataParallelCurveTest.CONFIG, List.of("--output_dir", out.toString(),
        "--report_to", "none", "--devices", "2", "--per_device_train_batch_size", "2", "--sharding", "stage1"));
    DpoTrainer.run(config, new PrintStream(new ByteArrayOutputStream()), false);
    List<JsonObject> golden = DataParallelCurveTest.lines(DataParallelCurveTest.GOLDEN.resolve("a-sigmoid/curve.jsonl"));
    List<JsonObject> ours = DataParallelCurveTest.lines(out.resolve(DpoTrainer.METRICS_FILE));
    assertEquals(16, ours.size());
    CurveParity.assertMatches("2 replicas x 2 pairs, sharding stage1", golden, ours);
  }

  /**
   * {@code sharding} may change on resume: a 2-device run without sharding, resumed from its step-4
   * checkpoint with {@code --sharding stage1}, writes the same metrics and, bitwise, the same final
   * weights as the uninterrupted run (same checkpoint keys; same numbers sharded or not).
   */
  @Test
  void anUnshardedCheckpointResumesShardedBitwise() throws Exception {
    List<String> two = List.of("--devices", "2", "--per_device_train_batch_size", "4");
    Path whole = out.resolve("whole");
    ResumeTest.run(whole, two);
    Path resumed = out.resolve("resumed");
    ResumeTest.copyTree(whole, resumed);
    for (String gone : List.of("checkpoint-6", "checkpoint-7", "model.safetensors", "latest")) {
      ResumeTest.deleteTree(resumed.resolve(gone));
    }
    List<String> again = new ArrayList<>(two);
    again.addAll(List.of("--sharding", "stage1", "--resume_from_checkpoint", "auto"));
    String log = ResumeTest.run(resumed, again);
    assertTrue(log.contains("checkpoint-4 (step 4"), log);
    assertEquals(Files.readString(whole.resolve(DpoTrainer.METRICS_FILE)),
        Files.readString(resumed.resolve(DpoTrainer.METRICS_FILE)));
    assertArrayEquals(ResumeTest.tensorBytes(whole.resolve("model.safetensors")),
        ResumeTest.tensorBytes(resumed.resolve("model.safetensors")));
  }
}
