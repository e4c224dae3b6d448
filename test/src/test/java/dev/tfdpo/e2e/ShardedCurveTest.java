package dev.tfdpo.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.google.gson.JsonObject;
import dev.tfdpo.trainer.DpoTrainer;
import dev.tfdpo.trainer.config.TrainConfig;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
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
}
