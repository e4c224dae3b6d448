package dev.tfdpo.export;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tfdpo.graphs.GraphScopes;
import dev.tfdpo.graphs.Llama;
import dev.tfdpo.graphs.LoraAdapters;
import dev.tfdpo.graphs.Tensors;
import dev.tfdpo.graphs.WeightLoader;
import dev.tfdpo.io.hf.LlamaConfig;
import dev.tfdpo.io.hf.PeftAdapter;
import dev.tfdpo.io.safetensors.SafeTensorsReader;
import dev.tfdpo.trainer.DpoTrainer;
import dev.tfdpo.trainer.config.TrainConfig;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.tensorflow.Graph;
import org.tensorflow.Operand;
import org.tensorflow.Session;
import org.tensorflow.Tensor;
import org.tensorflow.op.Ops;
import org.tensorflow.types.TFloat32;

/**
 * {@code export.sh --format hf --merge_lora} of a LoRA run (PEFT's trained adapter {@code
 * a-lora-r4-final} over {@code tiny-llama-a}): the merged model's logits equal the base + adapter
 * graph's, which computes {@code x W^T + s (x A^T) B^T} factored.
 */
class LoraExportTest {

  static final Path LORA = ExportFixtures.FIXTURES.resolve("golden/lora");

  @TempDir Path work;

  /** A LoRA run's output directory: the adapter files and a resolved config naming the base. */
  Path loraRun() throws Exception {
    Path dir = work.resolve("run");
    Files.createDirectories(dir);
    PeftAdapter.read(LORA.resolve("a-lora-r4-final")).write(dir, ExportFixtures.TINY.toString());
    TrainConfig.load(ExportFixtures.ROOT.resolve("configs/default.json"),
        List.of("--model_name_or_path", ExportFixtures.TINY.toString(), "--lora", "true",
            "--lora_path", LORA.resolve("a-lora-r4-init").toString())).save(dir.resolve(DpoTrainer.CONFIG_FILE));
    return dir;
  }

  @Test
  void mergedModelGivesTheLogitsOfBasePlusAdapter() throws Exception {
    Path run = loraRun();
    ByteArrayOutputStream err = new ByteArrayOutputStream();
    Path out = work.resolve("merged");
    int refused = ExportMain.run(new String[] {run.toString(), out.toString(), "--format", "hf"},
        new PrintStream(new ByteArrayOutputStream()), new PrintStream(err));
    assertEquals(2, refused, "a source refused as given: status 2 (docs/troubleshooting.md)");
    assertTrue(err.toString().contains("--merge_lora"), err.toString());
    int status = ExportMain.run(new String[] {run.toString(), out.toString(), "--format", "hf", "--merge_lora"},
        new PrintStream(new ByteArrayOutputStream()), new PrintStream(err));
    assertEquals(0, status, err.toString());
    assertTrue(Files.isRegularFile(out.resolve("config.json")));

    LlamaConfig config = LlamaConfig.read(ExportFixtures.TINY);
    int[][] rows = {{1, 17, 256, 1999, 42, 7, 300, 12}, {1, 5, 9, 14}};
    float[] merged;
    try (ExportFixtures.LogitsGraph g = new ExportFixtures.LogitsGraph(config)) {
      g.load(out);
      merged = g.logits(rows, 8);
    }
    float[] factored = adaptedLogits(config, PeftAdapter.read(run), rows, 8);
    double worst = 0;
    for (int i = 0; i < merged.length; i++) {
      worst = Math.max(worst, Math.abs(merged[i] - factored[i]));
    }
    System.out.printf("lora merge: worst logit difference %.3e%n", worst);
    // Two float32 evaluation orders of the same function: merging rounds each W + s(BA) once, the factored
    // path rounds x W^T and s(xA^T)B^T separately and adds them. Per projection that is a few ulps of
    // outputs of size ~1-10 (1e-7 to 1e-6), carried through 2 layers (attention softmax, SwiGLU) and the
    // 64-wide head to logits of size ~1-10. Measured 7.2e-6; the bound is 7 times that.
    assertTrue(worst <= 5e-5, "worst logit difference " + worst);
  }

  @Test
  void savedModelMergesPolicyAndStartingAdapterIntoTheReference() throws Exception {
    Path run = loraRun();
    ModelStateDir state = ModelStateDir.resolve(run);
    Path out = java.nio.file.Files.createDirectories(work.resolve("savedmodel"));
    SavedModelExport.export(state, out);
    java.util.Map<String, float[]> base = ExportFixtures.readAll(ExportFixtures.TINY);
    java.util.Map<String, float[]> policy = new java.util.LinkedHashMap<>(base);
    policy.replaceAll((n, v) -> v.clone());
    PeftAdapter.read(run).mergeInto(policy);
    java.util.Map<String, float[]> reference = new java.util.LinkedHashMap<>(base);
    reference.replaceAll((n, v) -> v.clone());
    PeftAdapter.read(LORA.resolve("a-lora-r4-init")).mergeInto(reference);
    String name = "model.layers.1.mlp.down_proj.weight";
    try (var bundle = SavedModelExport.load(out);
        var result = bundle.session().runner().fetch("policy/" + name).fetch("reference/" + name)
            .fetch("policy/model.norm.weight").run()) {
      org.junit.jupiter.api.Assertions.assertArrayEquals(policy.get(name), Tensors.toFloats(result.get(0)), 0f);
      org.junit.jupiter.api.Assertions.assertArrayEquals(reference.get(name), Tensors.toFloats(result.get(1)), 0f);
      org.junit.jupiter.api.Assertions.assertArrayEquals(base.get("model.norm.weight"), Tensors.toFloats(result.get(2)), 0f);
    }
    assertTrue(!java.util.Arrays.equals(policy.get(name), base.get(name)), "the adapter changes the weight");
  }

  /** Logits of the base with the adapter applied factored, as training computes them. */
  static float[] adaptedLogits(LlamaConfig config, PeftAdapter adapter, int[][] rows, int length) throws Exception {
    try (Graph graph = new Graph(); Session session = new Session(graph)) {
      Ops tf = Ops.create(graph);
      GraphScopes scopes = GraphScopes.of(tf);
      Llama model = Llama.create(scopes, config, "model");
      WeightLoader loader = WeightLoader.create(scopes, model);
      LoraAdapters lora = LoraAdapters.create(scopes, config,
          new LoraAdapters.Spec(adapter.rank(), adapter.alpha(), adapter.rslora(), adapter.targets()), "lora");
      int[] ids = new int[rows.length * length];
      int[] positions = new int[rows.length * length];
      int[] segments = new int[rows.length * length];
      for (int r = 0; r < rows.length; r++) {
        for (int t = 0; t < length; t++) {
          positions[r * length + t] = t;
          if (t < rows[r].length) {
            ids[r * length + t] = rows[r][t];
            segments[r * length + t] = 1;
          }
        }
      }
      long[] shape = {rows.length, length};
      Operand<org.tensorflow.types.TInt32> idsOp = tf.constant(org.tensorflow.ndarray.Shape.of(shape),
          org.tensorflow.ndarray.buffer.DataBuffers.of(ids)); // [R, L]
      Operand<org.tensorflow.types.TInt32> posOp = tf.constant(org.tensorflow.ndarray.Shape.of(shape),
          org.tensorflow.ndarray.buffer.DataBuffers.of(positions)); // [R, L]
      Operand<org.tensorflow.types.TInt32> segOp = tf.constant(org.tensorflow.ndarray.Shape.of(shape),
          org.tensorflow.ndarray.buffer.DataBuffers.of(segments)); // [R, L]
      Operand<TFloat32> hidden =
          model.hidden(tf, new Llama.Inputs(idsOp, posOp, segOp, tf.zerosLike(idsOp)), lora.byModule()); // [R, L, H]
      Operand<TFloat32> logits = model.logits(tf, hidden); // [R, L, V]
      try (SafeTensorsReader base = SafeTensorsReader.open(ExportFixtures.TINY)) {
        loader.load(session, base);
      }
      lora.assign(session, adapter.tensors());
      try (var result = session.runner().fetch(logits).run()) {
        Tensor t = result.get(0);
        return Tensors.toFloats(t);
      }
    }
  }
}
