package dev.tfdpo.export;

import dev.tfdpo.graphs.Llama;
import dev.tfdpo.graphs.Tensors;
import dev.tfdpo.graphs.WeightLoader;
import dev.tfdpo.io.checkpoint.CheckpointWriter;
import dev.tfdpo.io.hf.LlamaConfig;
import dev.tfdpo.io.safetensors.SafeTensorsReader;
import dev.tfdpo.trainer.DpoTrainer;
import dev.tfdpo.trainer.config.TrainConfig;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.tensorflow.Graph;
import org.tensorflow.Operand;
import org.tensorflow.Session;
import org.tensorflow.Tensor;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Placeholder;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt32;

/**
 * Model state directories as the trainer writes them (policy weights, config.json, tokenizer files,
 * resolved_config.json, optionally reference.safetensors), built from the repository's tiny model, and a
 * plain Llama logits graph to read exported weights back with.
 */
final class ExportFixtures {

  static final Path ROOT = Path.of(System.getProperty("tfdpo.root", ".")).toAbsolutePath();
  static final Path FIXTURES = ROOT.resolve("test/fixtures");
  /** The base model: the reference of every fixture run. */
  static final Path TINY = FIXTURES.resolve("tiny-llama-a");
  /** TRL's policy after 16 sigmoid steps from {@link #TINY}: weights that differ from the reference. */
  static final Path TRAINED = FIXTURES.resolve("golden/policies/tiny-llama-a-sigmoid16");
  /** TRL's policy after 2 steps. */
  static final Path MID2 = FIXTURES.resolve("golden/policies/tiny-llama-a-mid2");
  static final Path TOKENS = FIXTURES.resolve("golden/a-sigmoid/tokens.jsonl");

  static final List<String> TOKENIZER_FILES = List.of("tokenizer.json", "tokenizer.model", "tokenizer_config.json");

  private ExportFixtures() {}

  /**
   * Fills {@code dir} as a checkpoint or final output directory: the weights of {@code policy}, the tiny
   * model's config and tokenizer files, and a resolved config whose base model is {@link #TINY}.
   */
  static Path stateDir(Path dir, Path policy, double beta) throws IOException {
    Files.createDirectories(dir);
    Files.copy(policy.resolve("model.safetensors"), dir.resolve("model.safetensors"),
        StandardCopyOption.REPLACE_EXISTING);
    for (String name : concat(List.of("config.json", "generation_config.json"), TOKENIZER_FILES)) {
      Files.copy(TINY.resolve(name), dir.resolve(name), StandardCopyOption.REPLACE_EXISTING);
    }
    runConfig(beta).save(dir.resolve(DpoTrainer.CONFIG_FILE));
    return dir;
  }

  /** The embedded default run with an absolute base model path and {@code beta}. */
  static TrainConfig runConfig(double beta) throws IOException {
    return TrainConfig.load(ROOT.resolve("configs/default.json"),
        List.of("--model_name_or_path", TINY.toString(), "--beta", Double.toString(beta)));
  }

  /** Saves a verified {@code checkpoint-<step>} of {@code policy} into {@code outputDir}. */
  static Path checkpoint(Path outputDir, long step, Path policy, double beta) throws IOException {
    return new CheckpointWriter(outputDir, 0).save(step, dir -> stateDir(dir, policy, beta)).directory();
  }

  /** Every tensor of a weights file or model directory. */
  static Map<String, float[]> readAll(Path weights) throws IOException {
    Map<String, float[]> out = new LinkedHashMap<>();
    try (SafeTensorsReader reader = SafeTensorsReader.open(weights)) {
      for (String name : reader.names()) {
        out.put(name, reader.readFloats(name));
      }
    }
    return out;
  }

  private static List<String> concat(List<String> a, List<String> b) {
    List<String> all = new ArrayList<>(a);
    all.addAll(b);
    return all;
  }

  /** Full logits of a plain right-padded batch, for reading weights back. */
  static final class LogitsGraph implements AutoCloseable {
    private final Graph graph = new Graph();
    private final Session session;
    private final WeightLoader loader;
    private final Placeholder<TInt32> ids;
    private final Placeholder<TInt32> positions;
    private final Placeholder<TInt32> segments;
    private final Operand<TFloat32> logits;

    LogitsGraph(LlamaConfig config) {
      Ops tf = Ops.create(graph);
      Llama model = Llama.create(tf, config, "model");
      loader = WeightLoader.create(tf, model);
      Shape rowsByLength = Shape.of(-1, -1);
      ids = tf.placeholder(TInt32.class, Placeholder.shape(rowsByLength)); // [R, L]
      positions = tf.placeholder(TInt32.class, Placeholder.shape(rowsByLength)); // [R, L]
      segments = tf.placeholder(TInt32.class, Placeholder.shape(rowsByLength)); // [R, L]
      Operand<TFloat32> hidden =
          model.hidden(tf, new Llama.Inputs(ids, positions, segments, tf.zerosLike(ids))); // [R, L, H]
      logits = model.logits(tf, hidden); // [R, L, V]
      session = new Session(graph);
    }

    void load(Path weights) throws IOException {
      try (SafeTensorsReader reader = SafeTensorsReader.open(weights)) {
        loader.load(session, reader);
      }
    }

    void assign(Map<String, float[]> weights) {
      loader.assign(session, weights);
    }

    /** Logits {@code [rows, length, V]} of rows of ids with their real lengths (right padding). */
    float[] logits(int[][] rows, int length) {
      int[] flatIds = new int[rows.length * length];
      int[] flatPositions = new int[rows.length * length];
      int[] flatSegments = new int[rows.length * length];
      for (int r = 0; r < rows.length; r++) {
        for (int t = 0; t < length; t++) {
          flatPositions[r * length + t] = t;
          if (t < rows[r].length) {
            flatIds[r * length + t] = rows[r][t];
            flatSegments[r * length + t] = 1;
          }
        }
      }
      long[] shape = {rows.length, length};
      try (Tensor a = Tensors.ints(shape, flatIds);
          Tensor b = Tensors.ints(shape, flatPositions);
          Tensor c = Tensors.ints(shape, flatSegments);
          var result = session.runner().feed(ids, a).feed(positions, b).feed(segments, c).fetch(logits).run()) {
        return Tensors.toFloats(result.get(0));
      }
    }

    @Override
    public void close() {
      session.close();
      graph.close();
    }
  }
}
