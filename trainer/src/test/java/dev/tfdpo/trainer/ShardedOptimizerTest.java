package dev.tfdpo.trainer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tfdpo.data.TokenIdsJsonl;
import dev.tfdpo.data.TokenizedPair;
import dev.tfdpo.graphs.training.Batch;
import dev.tfdpo.graphs.training.DpoGraph;
import dev.tfdpo.graphs.training.Replication;
import dev.tfdpo.io.hf.LlamaConfig;
import dev.tfdpo.io.safetensors.SafeTensorsReader;
import dev.tfdpo.ops.AdamW;
import dev.tfdpo.ops.LossSpec;
import dev.tfdpo.graphs.Tensors;
import java.nio.file.Path;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.tensorflow.GraphOperation;

/**
 * ZeRO-1 / {@code sharding: stage1} on two virtual CPU devices: the AdamW moments are split across the
 * replicas' devices, and training is the same, to the bit, as with the moments all on the first device
 * (the same float32 kernels on the same values, only on another device), checkpoint round trips included.
 */
class ShardedOptimizerTest {

  static DpoGraph plain;
  static DpoGraph sharded;
  static List<TokenizedPair> pairs;
  @TempDir static Path dir;

  @BeforeAll
  static void build() throws Exception {
    LlamaConfig config = LlamaConfig.read(Golden.TINY);
    LossSpec sigmoid = LossSpec.builder("sigmoid").beta(0.1f).build();
    DpoGraph.Reference ref = DpoGraph.Reference.live(config);
    plain = DpoGraph.build(DataParallelGraphTest.settings(config, sigmoid, ref, Replication.cpus(2)));
    sharded = DpoGraph.build(DataParallelGraphTest.settings(config, sigmoid, ref,
        Replication.cpus(2).withShardedOptimizer(true)));
    for (DpoGraph g : List.of(plain, sharded)) {
      try (SafeTensorsReader w = SafeTensorsReader.open(Golden.TINY)) {
        g.policyLoader().load(g.session(), w);
        g.referenceLoader().load(g.session(), w);
      }
    }
    pairs = TokenIdsJsonl.read(Golden.TOKENS);
    plain.saveState(dir.resolve("start"));
  }

  @AfterAll
  static void close() {
    plain.close();
    sharded.close();
  }

  /** Bytes of the AdamW m and v variables, by requested device. */
  static Map<String, Long> momentBytesByDevice(DpoGraph g) {
    Map<String, Long> bytes = new TreeMap<>();
    for (Iterator<GraphOperation> it = g.session().graph().operations(); it.hasNext(); ) {
      GraphOperation op = it.next();
      if (op.type().equals("VariableV2") && op.name().startsWith("optimizer/adam_")) {
        long b = Tensors.bytesPerElement(op.output(0).dataType()) * op.output(0).shape().size();
        bytes.merge(op.device(), b, Long::sum);
      }
    }
    return bytes;
  }

  /**
   * Each device holds about half the moments. Whole tensors are dealt greedily, largest first, to the
   * least loaded device, so no device exceeds total/N by more than the largest tensor's m+v (the device
   * that got the last tensor was the least loaded, at most total/N, before it); the tiny model's largest
   * tensor is small against the total, so this also says "about 1/N".
   */
  @Test
  void eachDeviceHoldsAboutHalfOfTheMoments() {
    Map<String, Long> unsharded = momentBytesByDevice(plain);
    Map<String, Long> split = momentBytesByDevice(sharded);
    System.out.println("AdamW m+v bytes by device: unsharded " + unsharded + ", sharding stage1 " + split);
    assertEquals(List.of("/device:CPU:0"), List.copyOf(unsharded.keySet()));
    assertEquals(List.of("/device:CPU:0", "/device:CPU:1"), List.copyOf(split.keySet()));
    long total = unsharded.get("/device:CPU:0");
    assertEquals(total, split.values().stream().mapToLong(Long::longValue).sum());
    long largest = 2L * 4 * plain.policyWeights().values().stream().mapToLong(w -> w.length).max().orElseThrow();
    for (long b : split.values()) {
      assertTrue(b <= total / 2 + largest, b + " bytes on one device, total " + total + ", largest m+v " + largest);
    }
  }

  /**
   * The update arithmetic of CPU:1's tensors runs on CPU:1 (not only their variables), and every moment
   * variable's assignments sit on its own device (a reference edge needs it).
   */
  @Test
  void theOwnersComputeTheirUpdates() {
    int updateOpsOnSecond = 0;
    for (Iterator<GraphOperation> it = sharded.session().graph().operations(); it.hasNext(); ) {
      GraphOperation op = it.next();
      boolean moment = op.type().equals("VariableV2") && op.name().startsWith("optimizer/adam_");
      if (op.device().equals("/device:CPU:1") && op.name().startsWith("optimizer/") && !moment
          && !op.type().startsWith("Assign")) {
        updateOpsOnSecond++;
      }
      if (moment) {
        for (GraphOperation c : op.consumers(0)) {
          if (c.type().startsWith("Assign")) {
            assertEquals(op.device(), c.device(), c.name() + " assigns " + op.name());
          }
        }
      }
    }
    // Per tensor: the clipping multiply and AdamW's ~12 element-wise ops.
    assertTrue(updateOpsOnSecond > 50, updateOpsOnSecond + " update ops on CPU:1");
  }

  /**
   * Four optimizer steps (2 replicas x 2 pairs) with and without sharding: losses, gradient norms and
   * weights bitwise; then the sharded run's checkpoint of step 2, restored, replays steps 3-4 bitwise,
   * and the sharded checkpoint restores into the unsharded graph (same keys, same moments).
   */
  @Test
  void shardedTrainsBitwiseAsUnshardedAndResumes() {
    plain.restoreState(dir.resolve("start"));
    sharded.restoreState(dir.resolve("start"));
    Map<String, float[]> afterTwo = null;
    for (int step = 1; step <= 4; step++) {
      step(step);
      if (step == 2) {
        sharded.saveState(dir.resolve("sharded-2"));
        afterTwo = sharded.policyWeights();
      }
    }
    Map<String, float[]> finalWeights = sharded.policyWeights();
    assertEquals(0.0, DataParallelGraphTest.worstRelative(plain.policyWeights(), finalWeights), 0.0);

    sharded.restoreState(dir.resolve("sharded-2"));
    assertEquals(0.0, DataParallelGraphTest.worstRelative(afterTwo, sharded.policyWeights()), 0.0);
    plain.restoreState(dir.resolve("sharded-2"));
    for (int step = 3; step <= 4; step++) {
      step(step);
    }
    for (String name : finalWeights.keySet()) {
      assertArrayEquals(finalWeights.get(name), sharded.policyWeights().get(name), 0f, "resumed " + name);
      assertArrayEquals(finalWeights.get(name), plain.policyWeights().get(name), 0f, "unsharded resumed " + name);
    }
  }

  /** One optimizer step of both graphs on pairs 4(step-1)..+3, checked equal to the bit. */
  private static void step(int step) {
    Collator collator = new Collator(2);
    int from = (4 * (step - 1)) % pairs.size();
    List<Batch> shards = List.of(collator.padded(pairs.subList(from, from + 2)),
        collator.padded(pairs.subList(from + 2, from + 4)));
    float a = plain.micro(shards, 1f, null).metric("loss");
    float b = sharded.micro(shards, 1f, null).metric("loss");
    float[] scalars = AdamW.stepScalars(5e-4, 0.01, DataParallelGraphTest.ADAM, step);
    float na = plain.apply(scalars);
    float nb = sharded.apply(scalars);
    assertEquals(a, b, 0f, "loss, step " + step);
    assertEquals(na, nb, 0f, "gradient norm, step " + step);
  }

  @Test
  void oneReplicaIsRefused() {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> new Replication(List.of("/device:CPU:0"), Replication.DEFAULT_BUCKET_BYTES,
            Replication.DEFAULT_TIMEOUT_SECONDS).withShardedOptimizer(true));
    assertTrue(e.getMessage().contains("only one"), e.getMessage());
  }
}
