package dev.tfdpo.bench;

import dev.tfdpo.io.hf.HfModelWriter;
import dev.tfdpo.io.hf.LlamaConfig;
import dev.tfdpo.io.hf.LlamaWeights;
import dev.tfdpo.io.safetensors.DType;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * The benchmark's model: the architecture and tokenizer of a fixture folder (no weights in the
 * repository) with seeded random float32 weights, written once into an ignored folder. Throughput
 * does not depend on the weight values.
 */
final class BenchModel {

  /** Seed of the weights: the same model on every machine. */
  static final long SEED = 4321;

  /** Standard deviation of projection and embedding weights (norm weights are 1). */
  static final double STD = 0.02;

  private BenchModel() {}

  /**
   * The architecture of a benchmark config {@code configs/bench/NAME.json}: the folder {@code
   * configs/bench/NAME/} when it holds a {@code config.json} (real-size shapes keep only that file in
   * the repository), else {@code fallback}.
   */
  static Path fixtureFor(Path config, Path fallback) {
    String file = config.getFileName().toString();
    Path sibling = config.resolveSibling(file.endsWith(".json") ? file.substring(0, file.length() - 5) : file);
    return Files.isRegularFile(sibling.resolve("config.json")) ? sibling : fallback;
  }

  /**
   * Makes sure {@code modelDir} holds a model: when it has no weights, writes the architecture of
   * {@code fixture} there with random weights, and the tokenizer files of {@code fixture}, or of
   * {@code tokenizerFixture} where {@code fixture} has none.
   *
   * @return true when the weights were generated now
   */
  static boolean ensure(Path modelDir, Path fixture, Path tokenizerFixture) throws IOException {
    if (Files.isRegularFile(modelDir.resolve("model.safetensors"))
        || Files.isRegularFile(modelDir.resolve("model.safetensors.index.json"))) {
      return false;
    }
    if (!Files.isRegularFile(fixture.resolve("config.json"))) {
      throw new IOException("no model in " + modelDir + " and no fixture " + fixture + " to generate one from");
    }
    LlamaConfig config = LlamaConfig.read(fixture);
    SplittableRandom random = new SplittableRandom(SEED);
    Map<String, float[]> weights = new LinkedHashMap<>();
    for (LlamaWeights.Entry e : LlamaWeights.of(config).entries()) {
      long n = 1;
      for (long d : e.shape()) {
        n *= d;
      }
      float[] w = new float[Math.toIntExact(n)];
      for (int i = 0; i < w.length; i++) {
        w[i] = switch (e.kind()) {
          case NORM -> 1f;
          case BIAS -> 0f;
          default -> (float) (STD * gaussian(random));
        };
      }
      weights.put(e.hfName(), w);
    }
    HfModelWriter.write(modelDir, fixture, config, weights, DType.F32, HfModelWriter.DEFAULT_MAX_SHARD_BYTES);
    if (!Files.isRegularFile(modelDir.resolve("tokenizer.json")) && !Files.isRegularFile(modelDir.resolve("tokenizer.model"))) {
      for (String side : HfModelWriter.SIDE_FILES) {
        Path src = tokenizerFixture.resolve(side);
        if (side.startsWith("tokenizer") && Files.isRegularFile(src)) {
          Files.copy(src, modelDir.resolve(side), StandardCopyOption.REPLACE_EXISTING);
        }
      }
    }
    return true;
  }

  /** A standard normal draw (Box-Muller; SplittableRandom has no nextGaussian on Java 17). */
  private static double gaussian(SplittableRandom r) {
    double u = 1.0 - r.nextDouble();
    double v = r.nextDouble();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }
}
