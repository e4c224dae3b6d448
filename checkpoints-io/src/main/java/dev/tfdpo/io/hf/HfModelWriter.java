package dev.tfdpo.io.hf;

import dev.tfdpo.io.safetensors.DType;
import dev.tfdpo.io.safetensors.NamedTensor;
import dev.tfdpo.io.safetensors.SafeTensorsWriter;
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
    Files.createDirectories(outDir);
    List<NamedTensor> tensors = tensors(config, weights);
    for (String side : SIDE_FILES) {
      Path src = sourceModelDir.resolve(side);
      if (Files.isRegularFile(src)) {
        Files.copy(src, outDir.resolve(side), StandardCopyOption.REPLACE_EXISTING);
      }
    }
    return SafeTensorsWriter.writeModel(outDir, tensors, storeAs, maxShardBytes, metadata);
  }
}
