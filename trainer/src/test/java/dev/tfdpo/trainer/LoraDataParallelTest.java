package dev.tfdpo.trainer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tfdpo.data.TokenIdsJsonl;
import dev.tfdpo.data.TokenizedPair;
import dev.tfdpo.graphs.LoraAdapters;
import dev.tfdpo.graphs.QuantizedWeights;
import dev.tfdpo.graphs.Recompute;
import dev.tfdpo.graphs.training.Batch;
import dev.tfdpo.graphs.training.DpoGraph;
import dev.tfdpo.graphs.training.DpoObjective;
import dev.tfdpo.graphs.training.KtoObjective;
import dev.tfdpo.graphs.training.LoraTraining;
import dev.tfdpo.graphs.training.Objective;
import dev.tfdpo.graphs.training.Replication;
import dev.tfdpo.io.hf.LlamaConfig;
import dev.tfdpo.io.hf.PeftAdapter;
import dev.tfdpo.io.safetensors.SafeTensorsReader;
import dev.tfdpo.ops.AdamW;
import dev.tfdpo.ops.LossSpec;
import dev.tfdpo.ops.Precision;
import java.nio.file.Path;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.tensorflow.GraphOperation;

/**
 * LoRA with two data-parallel replicas on two virtual CPU devices: every replica's forward pass (policy
 * and reference) builds the adapters over the one shared frozen base, reading the one set of adapter
 * variables; the adapters' gradients go through the bucketed all-reduce; the base never changes. The
 * golden starting adapter ({@code golden/lora/a-lora-r4-init}, non-zero) is loaded into the trained set
 * and the reference's frozen copy, as {@code lora_path} does.
 */
class LoraDataParallelTest {

  static final AdamW.Hyper ADAM = new AdamW.Hyper(0.9f, 0.999f, 1e-8f);
  static final Objective SIGMOID = new DpoObjective(LossSpec.builder("sigmoid").beta(0.1f).build());

  static LlamaConfig config;
  static List<TokenizedPair> pairs;
  static PeftAdapter start;
  static LoraTraining lora;
  static DpoGraph one;
  static DpoGraph two;
  @TempDir static Path states;

  @BeforeAll
  static void build() throws Exception {
    config = LlamaConfig.read(Golden.TINY);
    pairs = TokenIdsJsonl.read(Golden.TOKENS);
    start = PeftAdapter.read(Golden.GOLDEN.resolve("lora/a-lora-r4-init"));
    lora = new LoraTraining(new LoraAdapters.Spec(start.rank(), start.alpha(), false, start.targets()), 1f, true);
    one = graph(settings(SIGMOID, Replication.single(), Precision.FLOAT32, lora));
    two = graph(settings(SIGMOID, Replication.cpus(2), Precision.FLOAT32, lora));
    two.saveState(states.resolve("two"));
  }

  @AfterAll
  static void close() {
    one.close();
    two.close();
  }

  static DpoGraph.Settings settings(Objective objective, Replication replication, Precision compute, LoraTraining l) {
    return new DpoGraph.Settings(config, objective, ADAM, 1.0, 2, DpoGraph.Reference.live(config), false,
        replication, compute, Precision.FLOAT32, l);
  }

  /** The graph with the fixture's base and the golden starting adapter in both adapter sets. */
  static DpoGraph graph(DpoGraph.Settings settings) throws Exception {
    DpoGraph g = DpoGraph.build(settings);
    try (SafeTensorsReader base = SafeTensorsReader.open(Golden.TINY)) {
      g.policyLoader().load(g.session(), base);
    }
    g.policyAdapters().assign(g.session(), start.tensors());
    g.referenceAdapters().assign(g.session(), start.tensors());
    return g;
  }

  /** Pairs {@code from .. from+1} and {@code from+2 .. from+3}, each shard padded to its own longest row. */
  static List<Batch> shards(Collator collator, int from) {
    return List.of(collator.padded(pairs.subList(from, from + 2)), collator.padded(pairs.subList(from + 2, from + 4)));
  }

  /**
   * 16 steps (lr 1e-3, weight decay 0.01, clipping at 1) of 2 replicas x 2 pairs equal, to the bit, one
   * device accumulating the same two shards one after the other with weight 1/2 each, as for full
   * fine-tuning ({@code DataParallelGraphTest}): loss, gradient norm and trained adapters. The all-reduce
   * of two replicas is one float addition, as the second accumulation is. The base and the reference's
   * adapter copy end bitwise as loaded.
   */
  @Test
  void replicasEqualOneDeviceAccumulatingTheSameShardsBitwise() throws Exception {
    two.restoreState(states.resolve("two"));
    Collator collator = new Collator(2);
    for (int step = 1; step <= 16; step++) {
      List<Batch> s = shards(collator, (4 * (step - 1)) % pairs.size());
      float l0 = one.micro(s.get(0), 0.5f).metric("loss");
      float l1 = one.micro(s.get(1), 0.5f).metric("loss");
      DpoGraph.MicroResult b = two.micro(s, 1f, null);
      assertEquals((float) (0.5 * l0 + 0.5 * l1), b.metric("loss"), 0f, "step " + step);
      float[] scalars = AdamW.stepScalars(1e-3, 0.01, ADAM, step);
      assertEquals(one.apply(scalars), two.apply(scalars), 0f, "gradient norm, step " + step);
    }
    Map<String, float[]> trained = two.policyAdapters().read(two.session());
    assertEquals(0.0, DataParallelGraphTest.worstRelative(one.policyAdapters().read(one.session()), trained), 0.0);
    for (String n : start.tensors().keySet()) {
      assertFalse(java.util.Arrays.equals(start.tensors().get(n), trained.get(n)), "adapter not trained: " + n);
    }
    assertUnchangedBaseAndReference(two);
  }

  /**
   * Every operation of replica 1 is on CPU:1, its backward pass included, and its policy and reference
   * forward passes read the shared adapters: each of the 2 x 7 x 2 adapter tensors of each set feeds
   * operations of replica 1.
   */
  @Test
  void everyOperationOfTheSecondReplicaRunsOnItsDeviceAndReadsTheAdapters() {
    DataParallelGraphTest.assertPlacedPerReplica(two);
    int tensors = start.tensors().size();
    assertEquals(tensors, adapterReadsOfReplica1(two, "policy_lora_read/"));
    assertEquals(tensors, adapterReadsOfReplica1(two, "reference_lora_read/"));
  }

  /**
   * The combinations a LoRA run may use, with 2 replicas against one device accumulating the same
   * shards: an int8- or nf4-quantized base (each replica dequantizes it on its own device), bf16 O1
   * compute and full recompute, 3 steps bitwise (the same kernels on the same shards, as above). And
   * the same two replicas with {@code sharding stage1}: the adapters' Adam moments split across the
   * devices, bitwise the unsharded run ({@code ShardedOptimizerTest}'s property), with LoRA+ (B at 4x the
   * learning rate).
   */
  @Test
  void quantizedBaseBf16RecomputeAndShardedMomentsTrainAsOneDevice() throws Exception {
    Collator collator = new Collator(2);
    for (QuantizedWeights.Algo algo : QuantizedWeights.Algo.values()) {
      LoraTraining quantized = new LoraTraining(lora.spec(), 1f, true, algo);
      try (DpoGraph a = graph(settings(SIGMOID, Replication.single(), Precision.BFLOAT16, quantized)
              .withRecompute(Recompute.Granularity.FULL));
          DpoGraph b = graph(settings(SIGMOID, Replication.cpus(2), Precision.BFLOAT16, quantized)
              .withRecompute(Recompute.Granularity.FULL))) {
        DataParallelGraphTest.assertPlacedPerReplica(b);
        for (int step = 1; step <= 3; step++) {
          List<Batch> s = shards(collator, 4 * (step - 1));
          float l0 = a.micro(s.get(0), 0.5f).metric("loss");
          float l1 = a.micro(s.get(1), 0.5f).metric("loss");
          assertEquals((float) (0.5 * l0 + 0.5 * l1), b.micro(s, 1f, null).metric("loss"), 0f, algo + " step " + step);
          float[] scalars = AdamW.stepScalars(1e-3, 0.01, ADAM, step);
          assertEquals(a.apply(scalars), b.apply(scalars), 0f, algo + " gradient norm, step " + step);
        }
        assertEquals(0.0, DataParallelGraphTest.worstRelative(
            a.policyAdapters().read(a.session()), b.policyAdapters().read(b.session())), 0.0, algo.toString());
      }
    }
    LoraTraining plus = new LoraTraining(lora.spec(), 4f, true);
    try (DpoGraph a = graph(settings(SIGMOID, Replication.cpus(2), Precision.FLOAT32, plus));
        DpoGraph b = graph(settings(SIGMOID, Replication.cpus(2).withShardedOptimizer(true), Precision.FLOAT32,
            plus))) {
      for (int step = 1; step <= 3; step++) {
        List<Batch> s = shards(collator, 4 * (step - 1));
        assertEquals(a.micro(s, 1f, null).metric("loss"), b.micro(s, 1f, null).metric("loss"), 0f, "step " + step);
        float[] scalars = AdamW.stepScalars(1e-3, 0.01, ADAM, step);
        assertEquals(a.apply(scalars), b.apply(scalars), 0f, "sharded gradient norm, step " + step);
      }
      assertEquals(0.0, DataParallelGraphTest.worstRelative(
          a.policyAdapters().read(a.session()), b.policyAdapters().read(b.session())), 0.0);
      assertUnchangedBaseAndReference(b);
    }
  }

  /**
   * KTO (TRL's KTOTrainer with 2 processes, {@code KtoDataParallelTest}): 2 replicas x 2 rows with LoRA
   * against one device with the 4 rows, padded to one length. The KL point is the mean of the two
   * shards' KL means, which for equal shards is one device's mean over all KL rows, so the two differ
   * only by float ordering: loss within 1e-5 (DataParallelGraphTest's bound: an ulp of a log-prob sum
   * near -1100 is 1.2e-4, times beta 0.1), adapters within 1e-6 relative after 2 steps.
   */
  @Test
  void ktoTrainsTheAdaptersAcrossReplicasAsOneDevice() throws Exception {
    Objective kto = new KtoObjective(KtoObjective.LossType.KTO, 0.1f, 1f, 1f);
    Collator collator = new Collator(2, new ShapeBuckets(256, 1));
    float[] labels = {1, 0, 1, 1};
    try (DpoGraph a = graph(settings(kto, Replication.single(), Precision.FLOAT32, lora));
        DpoGraph b = graph(settings(kto, Replication.cpus(2), Precision.FLOAT32, lora))) {
      double worstLoss = 0;
      for (int step = 1; step <= 2; step++) {
        int from = 4 * (step - 1);
        Batch whole = collator.padded(pairs.subList(from, from + 4)).withLabels(labels, 0);
        List<Batch> s = List.of(
            collator.padded(pairs.subList(from, from + 2)).withLabels(new float[] {1, 0}, 0),
            collator.padded(pairs.subList(from + 2, from + 4)).withLabels(new float[] {1, 1}, 0));
        float la = a.micro(whole, 1f).metric("loss");
        float lb = b.micro(s, 1f, null).metric("loss");
        worstLoss = Math.max(worstLoss, Math.abs(la - lb));
        float[] scalars = AdamW.stepScalars(1e-3, 0.0, ADAM, step);
        a.apply(scalars);
        b.apply(scalars);
      }
      double adapters = DataParallelGraphTest.worstRelative(
          a.policyAdapters().read(a.session()), b.policyAdapters().read(b.session()));
      System.out.printf("LoRA KTO, 2 replicas vs 1 device, 2 steps: |dloss| %.2e, adapters %.2e rel%n",
          worstLoss, adapters);
      assertTrue(worstLoss <= 1e-5, "loss within 1e-5: " + worstLoss);
      assertTrue(adapters <= 1e-6, "adapters within 1e-6 relative: " + adapters);
      assertUnchangedBaseAndReference(b);
    }
  }

  /** The base weights are the fixture's and the reference's adapter copy the starting adapter, bitwise. */
  static void assertUnchangedBaseAndReference(DpoGraph g) throws Exception {
    try (SafeTensorsReader file = SafeTensorsReader.open(Golden.TINY)) {
      Map<String, float[]> weights = g.policyWeights();
      assertFalse(weights.isEmpty());
      for (String n : weights.keySet()) {
        assertArrayEquals(file.readFloats(n), weights.get(n), 0f, "base weight changed: " + n);
      }
    }
    Map<String, float[]> reference = g.referenceAdapters().read(g.session());
    for (String n : start.tensors().keySet()) {
      assertArrayEquals(start.tensors().get(n), reference.get(n), 0f, "reference adapter changed: " + n);
    }
  }

  /** How many distinct adapter reads (ops under {@code readScope}) feed operations of replica 1. */
  static long adapterReadsOfReplica1(DpoGraph g, String readScope) {
    java.util.Set<String> read = new java.util.HashSet<>();
    for (Iterator<GraphOperation> it = g.session().graph().operations(); it.hasNext(); ) {
      GraphOperation op = it.next();
      if (!op.name().startsWith("replica_1/")) {
        continue;
      }
      for (int i = 0; i < op.numInputs(); i++) {
        String input = op.input(i).op().name();
        if (input.startsWith(readScope)) {
          read.add(input);
        }
      }
    }
    return read.size();
  }
}
