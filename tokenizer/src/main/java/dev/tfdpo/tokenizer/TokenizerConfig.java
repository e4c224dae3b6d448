package dev.tfdpo.tokenizer;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import dev.tfdpo.io.StrictJson;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * What Hugging Face keeps next to a tokenizer: {@code tokenizer_config.json},
 * {@code special_tokens_map.json} and {@code chat_template.jinja}, all optional.
 *
 * <p>{@code special_tokens_map.json} fills only what {@code tokenizer_config.json} leaves out, the
 * precedence transformers applies when it loads both.
 *
 * @param bos the BOS string, or null
 * @param eos the EOS string, or null
 * @param unk the UNK string, or null
 * @param pad the PAD string, or null
 * @param additionalSpecial further special-token strings ({@code additional_special_tokens})
 * @param addBos {@code add_bos_token}, or null when not given
 * @param addEos {@code add_eos_token}, or null when not given
 * @param chatTemplates the model's chat templates by name ({@code "default"} for a single one)
 */
public record TokenizerConfig(
    String bos,
    String eos,
    String unk,
    String pad,
    List<String> additionalSpecial,
    Boolean addBos,
    Boolean addEos,
    Map<String, String> chatTemplates) {

  /** The files this record is read from, in the order {@link #read(Path)} looks at them. */
  public static final List<String> FILES =
      List.of("tokenizer_config.json", "special_tokens_map.json", "chat_template.jinja");

  /** An empty configuration (no file present). */
  public static TokenizerConfig empty() {
    return new TokenizerConfig(null, null, null, null, List.of(), null, null, Map.of());
  }

  /** The model's default chat template, or null when it has none. */
  public String defaultChatTemplate() {
    return chatTemplates.get("default");
  }

  /** Reads the configuration files in {@code dir}; missing files are fine, malformed ones are not. */
  public static TokenizerConfig read(Path dir) {
    JsonObject config = readObject(dir.resolve(FILES.get(0)));
    JsonObject map = readObject(dir.resolve(FILES.get(1)));
    Path configFile = dir.resolve(FILES.get(0));
    Map<String, String> templates = new HashMap<>();
    Path jinja = dir.resolve(FILES.get(2));
    if (Files.isRegularFile(jinja)) {
      try {
        templates.put("default", Files.readString(jinja, StandardCharsets.UTF_8));
      } catch (IOException e) {
        throw new UncheckedIOException("cannot read " + jinja, e);
      }
    }
    JsonElement ct = config.get("chat_template");
    if (ct != null && ct.isJsonPrimitive()) {
      templates.put("default", ct.getAsString());
    } else if (ct != null && ct.isJsonArray()) {
      // transformers' multi-template layout: [{"name": ..., "template": ...}, ...]
      for (JsonElement e : ct.getAsJsonArray()) {
        if (!e.isJsonObject() || !e.getAsJsonObject().has("name") || !e.getAsJsonObject().has("template")) {
          throw new IllegalArgumentException(
              configFile + ": key 'chat_template': each list item needs 'name' and 'template'");
        }
        templates.put(
            e.getAsJsonObject().get("name").getAsString(),
            e.getAsJsonObject().get("template").getAsString());
      }
    }
    List<String> additional = new ArrayList<>();
    JsonElement extra = config.has("additional_special_tokens")
        ? config.get("additional_special_tokens")
        : map.get("additional_special_tokens");
    if (extra != null && extra.isJsonArray()) {
      for (JsonElement e : extra.getAsJsonArray()) {
        String s = tokenString(e);
        if (s != null) {
          additional.add(s);
        }
      }
    }
    return new TokenizerConfig(
        special(config, map, "bos_token"),
        special(config, map, "eos_token"),
        special(config, map, "unk_token"),
        special(config, map, "pad_token"),
        List.copyOf(additional),
        bool(config, "add_bos_token", configFile),
        bool(config, "add_eos_token", configFile),
        Map.copyOf(templates));
  }

  private static String special(JsonObject config, JsonObject map, String key) {
    if (config.has(key)) {
      return tokenString(config.get(key));
    }
    return map.has(key) ? tokenString(map.get(key)) : null;
  }

  // Both spellings occur: "<s>" and {"content": "<s>", "lstrip": false, ...} (AddedToken).
  private static String tokenString(JsonElement e) {
    if (e == null || e.isJsonNull()) {
      return null;
    }
    if (e.isJsonPrimitive()) {
      return e.getAsString();
    }
    if (e.isJsonObject() && e.getAsJsonObject().has("content")) {
      return e.getAsJsonObject().get("content").getAsString();
    }
    return null;
  }

  private static Boolean bool(JsonObject config, String key, Path file) {
    JsonElement e = config.get(key);
    if (e == null || e.isJsonNull()) {
      return null;
    }
    if (!e.isJsonPrimitive() || !e.getAsJsonPrimitive().isBoolean()) {
      throw new IllegalArgumentException(file + ": key '" + key + "' must be true or false, found " + e);
    }
    return e.getAsBoolean();
  }

  private static JsonObject readObject(Path file) {
    if (!Files.isRegularFile(file)) {
      return new JsonObject();
    }
    try {
      JsonElement e = StrictJson.parse(Files.readString(file, StandardCharsets.UTF_8));
      if (!e.isJsonObject()) {
        throw new IllegalArgumentException(file + ": expected a JSON object");
      }
      return e.getAsJsonObject();
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read " + file, e);
    } catch (StrictJson.Invalid e) {
      throw new IllegalArgumentException(file + ": " + (e.duplicateKey() != null ? "" : "invalid JSON: ")
          + e.getMessage(), e);
    }
  }
}
