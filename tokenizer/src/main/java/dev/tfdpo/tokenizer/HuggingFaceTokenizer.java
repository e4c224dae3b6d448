package dev.tfdpo.tokenizer;

import ai.djl.huggingface.tokenizers.Encoding;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParseException;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.io.InputStream;
import java.io.Reader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;

/**
 * A Hugging Face {@code tokenizer.json}, encoded by DJL's binding of the Rust tokenizers library: the
 * same code transformers' fast tokenizers run, so ids match TRL's.
 *
 * <p>Truncation and padding are switched off: DJL otherwise cuts at 512 tokens without a word. The
 * vocabulary (for {@link #token(int)} and the size) is read from the JSON, since the binding has no
 * id-to-token call. Special-token strings come from {@code tokenizer_config.json}.
 */
public final class HuggingFaceTokenizer implements Tokenizer {

  private final ai.djl.huggingface.tokenizers.HuggingFaceTokenizer hf;
  private final String[] vocab;
  private final Map<String, Integer> ids;
  private final SpecialTokens special;

  private HuggingFaceTokenizer(
      ai.djl.huggingface.tokenizers.HuggingFaceTokenizer hf,
      Map<String, Integer> ids,
      TokenizerConfig config,
      Path file) {
    this.hf = hf;
    this.ids = Map.copyOf(ids);
    int size = ids.values().stream().mapToInt(Integer::intValue).max().orElse(-1) + 1;
    this.vocab = new String[size];
    ids.forEach((t, i) -> vocab[i] = t);
    this.special =
        new SpecialTokens(
            config.bos(), config.eos(), config.unk(), config.pad(),
            idOf(config.bos(), file, "bos_token"),
            idOf(config.eos(), file, "eos_token"),
            idOf(config.unk(), file, "unk_token"),
            idOf(config.pad(), file, "pad_token"));
  }

  /** Loads {@code tokenizerJson}, with special-token names from {@code config}. */
  public static HuggingFaceTokenizer load(Path tokenizerJson, TokenizerConfig config) throws IOException {
    Map<String, Integer> ids = readVocab(tokenizerJson);
    Map<String, String> options = new HashMap<>();
    options.put("truncation", "false");
    options.put("padding", "false");
    options.put("addSpecialTokens", "false");
    ai.djl.huggingface.tokenizers.HuggingFaceTokenizer hf;
    // The stream form: the path form would also pick up a tokenizer_config.json on its own.
    try (InputStream in = Files.newInputStream(tokenizerJson)) {
      hf = ai.djl.huggingface.tokenizers.HuggingFaceTokenizer.newInstance(in, options);
    }
    return new HuggingFaceTokenizer(hf, ids, config, tokenizerJson);
  }

  // model.vocab is {token: id} for BPE/WordPiece/WordLevel and [[token, score], ...] for Unigram;
  // added_tokens may add ids past the model's vocabulary.
  private static Map<String, Integer> readVocab(Path file) throws IOException {
    JsonObject root;
    try (Reader in = Files.newBufferedReader(file, StandardCharsets.UTF_8)) {
      JsonElement e = JsonParser.parseReader(in);
      if (!e.isJsonObject() || !e.getAsJsonObject().has("model")) {
        throw new IllegalArgumentException(file + " is not a Hugging Face tokenizer.json (no 'model' key)");
      }
      root = e.getAsJsonObject();
    } catch (JsonParseException e) {
      throw new IllegalArgumentException(file + ": invalid JSON: " + e.getMessage(), e);
    }
    Map<String, Integer> ids = new HashMap<>();
    JsonElement vocab = root.getAsJsonObject("model").get("vocab");
    if (vocab != null && vocab.isJsonObject()) {
      for (Map.Entry<String, JsonElement> en : vocab.getAsJsonObject().entrySet()) {
        ids.put(en.getKey(), en.getValue().getAsInt());
      }
    } else if (vocab != null && vocab.isJsonArray()) {
      int i = 0;
      for (JsonElement item : vocab.getAsJsonArray()) {
        ids.putIfAbsent(item.getAsJsonArray().get(0).getAsString(), i++);
      }
    } else {
      throw new IllegalArgumentException(file + ": key 'model.vocab' is missing or not a map or list");
    }
    JsonElement added = root.get("added_tokens");
    if (added != null && added.isJsonArray()) {
      for (JsonElement item : added.getAsJsonArray()) {
        JsonObject t = item.getAsJsonObject();
        ids.put(t.get("content").getAsString(), t.get("id").getAsInt());
      }
    }
    return ids;
  }

  private int idOf(String token, Path file, String key) {
    if (token == null) {
      return -1;
    }
    Integer id = ids.get(token);
    if (id == null) {
      throw new IllegalArgumentException(
          "tokenizer config names " + key + " '" + token + "', which is not in the vocabulary of " + file
              + "; fix the config or point tokenizer_name_or_path at the matching tokenizer");
    }
    return id;
  }

  @Override
  public int[] encode(String text) {
    return toInts(hf.encode(text, false, false));
  }

  @Override
  public int[] encodeWithSpecialTokens(String text) {
    return toInts(hf.encode(text, true, false));
  }

  private static int[] toInts(Encoding e) {
    long[] ids = e.getIds();
    int[] out = new int[ids.length];
    for (int i = 0; i < ids.length; i++) {
      out[i] = (int) ids[i];
    }
    return out;
  }

  @Override
  public String decode(int[] ids) {
    long[] l = new long[ids.length];
    for (int i = 0; i < ids.length; i++) {
      Tokenizer.checkId(ids[i], vocab.length);
      l[i] = ids[i];
    }
    return hf.decode(l, true);
  }

  @Override
  public String token(int id) {
    Tokenizer.checkId(id, vocab.length);
    if (vocab[id] == null) {
      throw new IllegalArgumentException("token id " + id + " has no entry in the vocabulary");
    }
    return vocab[id];
  }

  @Override
  public int id(String token) {
    return ids.getOrDefault(token, -1);
  }

  @Override
  public int vocabSize() {
    return vocab.length;
  }

  @Override
  public SpecialTokens specialTokens() {
    return special;
  }

  @Override
  public String backend() {
    return "huggingface";
  }

  @Override
  public void close() {
    hf.close();
  }
}
