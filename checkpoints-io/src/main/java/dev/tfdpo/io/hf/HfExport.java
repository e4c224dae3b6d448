package dev.tfdpo.io.hf;

import com.google.gson.Gson;
import com.google.gson.GsonBuilder;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import dev.tfdpo.io.DurableFiles;
import dev.tfdpo.io.StrictJson;
import dev.tfdpo.io.safetensors.DType;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;

/**
 * Writes a Hugging Face model directory that {@code transformers.AutoModelForCausalLM.from_pretrained}
 * loads: {@code config.json} (its {@code dtype} set to the stored type), {@code model.safetensors} or
 * shards with {@code model.safetensors.index.json}, the tokenizer files and {@code
 * generation_config.json}. The end of training, checkpoints and {@code scripts/export.sh --format hf}
 * all write through {@link #write}.
 */
public final class HfExport {

  /**
   * How the weights are stored.
   *
   * @param dtype {@link DType#F32} or {@link DType#BF16} (rounded to nearest even, as torch's {@code
   *     .to(torch.bfloat16)})
   * @param maxShardBytes above this many bytes of weights, shards with an index (transformers' {@code
   *     max_shard_size})
   * @param metadata entries added to the safetensors metadata (the trainer's run fingerprint)
   */
  public record Options(DType dtype, long maxShardBytes, Map<String, String> metadata) {

    public Options(DType dtype, long maxShardBytes) {
      this(dtype, maxShardBytes, Map.of());
    }

    /** These options, the files also carrying {@code metadata}. */
    public Options withMetadata(Map<String, String> metadata) {
      return new Options(dtype, maxShardBytes, Map.copyOf(metadata));
    }

    /** float32 in shards of at most 5 GB, what the trainer writes at the end of a run. */
    public static final Options DEFAULT = new Options(DType.F32, HfModelWriter.DEFAULT_MAX_SHARD_BYTES);

    /** Checks the values. */
    public Options {
      if (dtype != DType.F32 && dtype != DType.BF16) {
        throw new IllegalArgumentException("export stores float32 or bfloat16, not " + dtype);
      }
      if (maxShardBytes <= 0) {
        throw new IllegalArgumentException("the shard size limit must be positive, got " + maxShardBytes);
      }
    }
  }

  /** The files a tokenizer may need; copied from the source, else from the run's base model. */
  public static final List<String> TOKENIZER_FILES =
      List.of("tokenizer.json", "tokenizer.model", "tokenizer_config.json", "special_tokens_map.json",
          "added_tokens.json", "chat_template.jinja");

  public static final String CONFIG = "config.json";
  public static final String GENERATION_CONFIG = "generation_config.json";

  /** transformers' spelling of the stored types in {@code config.json}. */
  private static final Map<DType, String> TORCH_NAMES = Map.of(DType.F32, "float32", DType.BF16, "bfloat16");

  private static final Gson PRETTY = new GsonBuilder().setPrettyPrinting().disableHtmlEscaping().serializeNulls().create();

  private HfExport() {}

  /**
   * Writes {@code weights} (every tensor of the architecture, by Hugging Face name) and the side files
   * into {@code outDir}.
   *
   * @param sourceDir the directory whose {@code config.json}, tokenizer and generation files are copied
   * @param fallbackDir where side files missing from {@code sourceDir} are taken from (the run's base
   *     model), if anywhere
   * @return the weight files written, the index last when sharded
   */
  public static List<Path> write(
      Path outDir,
      LlamaConfig config,
      Map<String, float[]> weights,
      Path sourceDir,
      Optional<Path> fallbackDir,
      Options options)
      throws IOException {
    List<Path> written =
        HfModelWriter.write(outDir, sourceDir, config, weights, options.dtype(), options.maxShardBytes(),
            options.metadata());
    if (fallbackDir.isPresent() && !fallbackDir.get().equals(sourceDir)) {
      for (String side : HfModelWriter.SIDE_FILES) {
        Path from = fallbackDir.get().resolve(side);
        Path to = outDir.resolve(side);
        if (!Files.exists(to) && Files.isRegularFile(from)) {
          Files.copy(from, to, StandardCopyOption.REPLACE_EXISTING);
        }
      }
    }
    JsonObject modelConfig = readObject(outDir.resolve(CONFIG));
    setStoredType(outDir.resolve(CONFIG), modelConfig, options.dtype());
    if (!Files.isRegularFile(outDir.resolve(GENERATION_CONFIG))) {
      writeJson(outDir.resolve(GENERATION_CONFIG), generationConfig(modelConfig));
    }
    return written;
  }

  /**
   * Sets {@code dtype} (transformers 4.56+; {@code torch_dtype} too when the file uses that older key), so
   * that {@code dtype="auto"} loads the weights in the type they are stored in. The file is rewritten
   * only when a value changes.
   */
  private static void setStoredType(Path file, JsonObject config, DType stored) throws IOException {
    String name = TORCH_NAMES.get(stored);
    boolean changed = false;
    for (String key : List.of("dtype", "torch_dtype")) {
      boolean present = config.has(key);
      if ((present || key.equals("dtype")) && !isString(config.get(key), name)) {
        config.addProperty(key, name);
        changed = true;
      }
    }
    if (changed) {
      writeJson(file, config);
    }
  }

  /**
   * What {@code GenerationConfig.from_model_config(config)} saves for a Llama config: the special token
   * ids the model config sets, marked {@code _from_model_config}.
   */
  public static JsonObject generationConfig(JsonObject modelConfig) {
    Map<String, JsonElement> sorted = new TreeMap<>();
    sorted.put("_from_model_config", new com.google.gson.JsonPrimitive(true));
    for (String key : List.of("bos_token_id", "eos_token_id", "pad_token_id", "transformers_version")) {
      JsonElement value = modelConfig.get(key);
      if (value != null && !value.isJsonNull()) {
        sorted.put(key, value);
      }
    }
    JsonObject out = new JsonObject();
    sorted.forEach(out::add);
    return out;
  }

  private static boolean isString(JsonElement e, String value) {
    return e != null && e.isJsonPrimitive() && e.getAsJsonPrimitive().isString() && e.getAsString().equals(value);
  }

  private static JsonObject readObject(Path file) throws IOException {
    if (!Files.isRegularFile(file)) {
      throw new IOException("no " + file.getFileName() + " in " + file.getParent());
    }
    JsonElement e;
    try {
      e = StrictJson.parse(Files.readString(file, StandardCharsets.UTF_8));
    } catch (StrictJson.Invalid ex) {
      throw new IOException(file + ": " + ex.getMessage(), ex);
    }
    if (!e.isJsonObject()) {
      throw new IOException(file + ": expected a JSON object");
    }
    return e.getAsJsonObject();
  }

  /** JSON with a two-space indent and a final newline, as transformers writes its config files. */
  private static void writeJson(Path file, JsonObject json) throws IOException {
    byte[] bytes = (PRETTY.toJson(json) + "\n").getBytes(StandardCharsets.UTF_8);
    DurableFiles.writeAtomically(file, channel -> {
      ByteBuffer buffer = ByteBuffer.wrap(bytes);
      while (buffer.hasRemaining()) {
        channel.write(buffer);
      }
    });
  }
}
