package dev.tfdpo.io.hf;

import com.google.gson.Gson;
import com.google.gson.GsonBuilder;
import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.tfdpo.io.safetensors.DType;
import dev.tfdpo.io.safetensors.NamedTensor;
import dev.tfdpo.io.safetensors.SafeTensorsWriter;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * A reward model as a Hugging Face sequence-classification directory, the layout transformers'
 * {@code AutoModelForSequenceClassification} loads: {@code config.json} with {@code architectures
 * ["LlamaForSequenceClassification"]}, one label ({@code id2label {"0": "LABEL_0"}}: {@code num_labels 1})
 * and the {@code pad_token_id} that locates each row's score token; weights are the backbone's and
 * {@code score.weight [1, hidden]}, without {@code lm_head.weight}; tokenizer files are copied.
 */
public final class RewardModelExport {

  /** Hugging Face name of the scalar head. */
  public static final String SCORE = "score.weight";

  /** transformers' class of a Llama-family reward model. */
  public static final String ARCHITECTURE = "LlamaForSequenceClassification";

  private static final Gson PRETTY = new GsonBuilder().setPrettyPrinting().disableHtmlEscaping().serializeNulls().create();

  private RewardModelExport() {}

  /**
   * The backbone's architecture without a language-model head: the same decoder with tied embeddings, so
   * the weight table has no {@code lm_head.weight}.
   */
  public static LlamaConfig backbone(LlamaConfig c) {
    return new LlamaConfig(c.vocabSize(), c.hiddenSize(), c.intermediateSize(), c.numHiddenLayers(),
        c.numAttentionHeads(), c.numKeyValueHeads(), c.headDim(), c.rmsNormEps(), c.rope(), true, c.attentionBias(),
        c.mlpBias(), c.bosTokenId(), c.eosTokenId(), c.maxPositionEmbeddings());
  }

  /** {@code initializer_range} of a model directory's config.json (transformers' default 0.02 when absent). */
  public static double initializerRange(Path modelDir) throws IOException {
    JsonObject config = readConfig(modelDir);
    JsonElement e = config.get("initializer_range");
    return e == null || e.isJsonNull() ? 0.02 : e.getAsDouble();
  }

  /**
   * Writes the directory.
   *
   * @param sourceDir the model training started from: its config.json is the base of the new one, its
   *     tokenizer files are copied
   * @param weights the backbone's tensors and {@link #SCORE}, by Hugging Face name
   * @param padTokenId the id transformers skips to find each row's score token
   * @return the weight files written
   */
  public static List<Path> write(Path outDir, Path sourceDir, LlamaConfig config, Map<String, float[]> weights,
      int padTokenId, HfExport.Options options) throws IOException {
    Files.createDirectories(outDir);
    LlamaWeights table = LlamaWeights.of(backbone(config));
    List<NamedTensor> tensors = new ArrayList<>();
    for (LlamaWeights.Entry e : table.entries()) {
      tensors.add(new NamedTensor(e.hfName(), e.shape(), required(weights, e.hfName())));
    }
    float[] head = required(weights, SCORE);
    if (head.length != config.hiddenSize()) {
      throw new IOException("cannot export: " + SCORE + " has " + head.length + " values, expected hidden_size "
          + config.hiddenSize());
    }
    tensors.add(new NamedTensor(SCORE, new long[] {1, config.hiddenSize()}, head));
    for (String name : weights.keySet()) {
      if (!name.equals(SCORE)) {
        table.entry(name); // an unknown name (lm_head.weight included) is an error
      }
    }
    for (String side : HfExport.TOKENIZER_FILES) {
      Path src = sourceDir.resolve(side);
      if (Files.isRegularFile(src)) {
        Files.copy(src, outDir.resolve(side), StandardCopyOption.REPLACE_EXISTING);
      }
    }
    writeConfig(outDir.resolve(HfExport.CONFIG), sequenceClassificationConfig(readConfig(sourceDir), padTokenId,
        options.dtype()));
    return SafeTensorsWriter.writeModel(outDir, tensors, options.dtype(), options.maxShardBytes(), options.metadata());
  }

  /** The source's config as a one-label Llama sequence classifier with {@code pad_token_id} set. */
  static JsonObject sequenceClassificationConfig(JsonObject source, int padTokenId, DType dtype) {
    JsonObject c = source.deepCopy();
    JsonArray architectures = new JsonArray();
    architectures.add(ARCHITECTURE);
    c.add("architectures", architectures);
    JsonObject id2label = new JsonObject();
    id2label.addProperty("0", "LABEL_0");
    JsonObject label2id = new JsonObject();
    label2id.addProperty("LABEL_0", 0);
    c.add("id2label", id2label);
    c.add("label2id", label2id);
    c.remove("num_labels"); // transformers derives it from id2label and does not save it
    c.addProperty("pad_token_id", padTokenId);
    c.addProperty("dtype", dtype == DType.BF16 ? "bfloat16" : "float32");
    if (c.has("torch_dtype")) {
      c.addProperty("torch_dtype", dtype == DType.BF16 ? "bfloat16" : "float32");
    }
    return c;
  }

  /** Whether {@code modelDir}'s config.json describes a sequence classifier (a reward model to continue). */
  public static boolean isSequenceClassifier(Path modelDir) throws IOException {
    JsonElement a = readConfig(modelDir).get("architectures");
    if (a == null || !a.isJsonArray()) {
      return false;
    }
    for (JsonElement e : a.getAsJsonArray()) {
      if (e.isJsonPrimitive() && e.getAsString().endsWith("ForSequenceClassification")) {
        return true;
      }
    }
    return false;
  }

  private static float[] required(Map<String, float[]> weights, String name) throws IOException {
    float[] data = weights.get(name);
    if (data == null) {
      throw new IOException("cannot export the reward model: no value for tensor " + name);
    }
    return data;
  }

  private static JsonObject readConfig(Path modelDir) throws IOException {
    Path file = modelDir.resolve(HfExport.CONFIG);
    if (!Files.isRegularFile(file)) {
      throw new IOException("no config.json in " + modelDir);
    }
    JsonElement e = JsonParser.parseString(Files.readString(file, StandardCharsets.UTF_8));
    if (!e.isJsonObject()) {
      throw new IOException(file + ": expected a JSON object");
    }
    return e.getAsJsonObject();
  }

  private static void writeConfig(Path file, JsonObject json) throws IOException {
    Files.writeString(file, PRETTY.toJson(json) + "\n", StandardCharsets.UTF_8);
  }
}
