package dev.tfdpo.io.hf;

import dev.tfdpo.io.safetensors.DType;
import dev.tfdpo.io.safetensors.NamedTensor;
import dev.tfdpo.io.safetensors.SafeTensorsWriter;
import dev.tfdpo.io.safetensors.TensorSource;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Writes a Hugging Face model directory: {@code config.json}, safetensors weights (sharded with an
 * index above the shard limit) and the tokenizer and generation files of the source model.
 */
public final class HfModelWriter {

  /** transformers' default {@code max_shard_size} ("5GB"). */
  public static final long DEFAULT_MAX_SHARD_BYTES = 5_000_000_000L;

  /** Files carried over from the source model directory when present. */
  public static final List<String> SIDE_FILES =
      List.of(
          "config.json",
          "generation_config.json",
          "tokenizer.json",
          "tokenizer.model",
          "tokenizer_config.json",
          "special_tokens_map.json",
          "added_tokens.json",
          "chat_template.jinja");

  private HfModelWriter() {}

  /**
   * The tensors of {@code config}'s architecture in the weight table's order, with shapes, from
   * {@code weights} (by Hugging Face name); a missing or unknown name is an error.
   */
  public static List<NamedTensor> tensors(LlamaConfig config, Map<String, float[]> weights) throws IOException {
    LlamaWeights table = LlamaWeights.of(config);
    List<NamedTensor> tensors = new ArrayList<>();
    for (LlamaWeights.Entry e : table.entries()) {
      float[] data = weights.get(e.hfName());
      if (data == null) {
        throw new IOException("cannot export: no value for tensor " + e.hfName());
      }
      tensors.add(new NamedTensor(e.hfName(), e.shape(), data));
    }
    for (String name : weights.keySet()) {
      table.entry(name); // an unknown name is an error
    }
    return tensors;
  }

  /** Every tensor of {@code config}'s architecture is in {@code tensors} once, with its shape, and nothing else. */
  static void checkArchitecture(LlamaConfig config, List<? extends TensorSource> tensors) throws IOException {
    LlamaWeights table = LlamaWeights.of(config);
    java.util.Set<String> seen = new java.util.HashSet<>();
    for (TensorSource t : tensors) {
      if (!table.contains(t.name())) {
        throw new IOException("cannot export: tensor " + t.name() + " is not part of this architecture");
      }
      if (!java.util.Arrays.equals(t.shape(), table.entry(t.name()).shape())) {
        throw new IOException("cannot export: tensor " + t.name() + " has shape " + java.util.Arrays.toString(t.shape())
            + ", the architecture's is " + java.util.Arrays.toString(table.entry(t.name()).shape()));
      }
      if (!seen.add(t.name())) {
        throw new IOException("cannot export: tensor " + t.name() + " given twice");
      }
    }
    for (LlamaWeights.Entry e : table.entries()) {
      if (!seen.contains(e.hfName())) {
        throw new IOException("cannot export: no value for tensor " + e.hfName());
      }
    }
  }

  /**
   * Writes {@code weights} (by Hugging Face name, all tensors of the architecture) into {@code outDir}.
   *
   * @param sourceModelDir the model the weights came from: its config and tokenizer files are copied
   */
  public static List<Path> write(
      Path outDir,
      Path sourceModelDir,
      LlamaConfig config,
      Map<String, float[]> weights,
      DType storeAs,
      long maxShardBytes)
      throws IOException {
    return write(outDir, sourceModelDir, config, weights, storeAs, maxShardBytes, Map.of());
  }

  /** {@link #write(Path, Path, LlamaConfig, Map, DType, long)} with extra safetensors metadata. */
  public static List<Path> write(Path outDir, Path sourceModelDir, LlamaConfig config, Map<String, float[]> weights,
      DType storeAs, long maxShardBytes, Map<String, String> metadata) throws IOException {
    return write(outDir, sourceModelDir, config, tensors(config, weights), storeAs, maxShardBytes, metadata);
  }

  /**
   * Writes {@code tensors} (every tensor of the architecture, each once, with its shape), streamed tensor
   * by tensor ({@link TensorSource}), into {@code outDir}.
   */
  public static List<Path> write(Path outDir, Path sourceModelDir, LlamaConfig config,
      List<? extends TensorSource> tensors, DType storeAs, long maxShardBytes, Map<String, String> metadata)
      throws IOException {
    checkArchitecture(config, tensors);
    Files.createDirectories(outDir);
    for (String side : SIDE_FILES) {
      Path src = sourceModelDir.resolve(side);
      if (Files.isRegularFile(src)) {
        Files.copy(src, outDir.resolve(side), StandardCopyOption.REPLACE_EXISTING);
      }
    }
    return SafeTensorsWriter.writeModel(outDir, tensors, storeAs, maxShardBytes, metadata);
  }
}
