package dev.tfdpo.data;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import dev.tfdpo.tokenizer.Message;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/** Field access for format parsers: every failure is a {@link BadRowException} naming the key. */
final class Json {

  /** Role spellings of the supported formats (sharegpt's from/value, OpenAI's role/content). */
  static final Map<String, String> ROLES =
      Map.of(
          "system", "system", "user", "user", "human", "user",
          "assistant", "assistant", "gpt", "assistant", "bot", "assistant", "model", "assistant");

  private Json() {}

  static boolean has(JsonObject o, String key) {
    JsonElement e = o.get(key);
    return e != null && !e.isJsonNull();
  }

  static boolean isString(JsonObject o, String key) {
    JsonElement e = o.get(key);
    return e != null && e.isJsonPrimitive() && e.getAsJsonPrimitive().isString();
  }

  static boolean isArray(JsonObject o, String key) {
    JsonElement e = o.get(key);
    return e != null && e.isJsonArray();
  }

  static JsonElement required(JsonObject o, String key) {
    JsonElement e = o.get(key);
    if (e == null || e.isJsonNull()) {
      throw new BadRowException("missing_field", "missing field '" + key + "'");
    }
    return e;
  }

  /** A non-empty string field. */
  static String string(JsonObject o, String key) {
    return text(required(o, key), key);
  }

  /** An optional string field: null when absent, empty or null. */
  static String optString(JsonObject o, String key) {
    if (!has(o, key)) {
      return null;
    }
    JsonElement e = o.get(key);
    if (!e.isJsonPrimitive() || !e.getAsJsonPrimitive().isString()) {
      throw new BadRowException("wrong_type", "field '" + key + "' must be a string, found " + kind(e));
    }
    String s = e.getAsString();
    return s.isEmpty() ? null : s;
  }

  static String text(JsonElement e, String where) {
    if (!e.isJsonPrimitive() || !e.getAsJsonPrimitive().isString()) {
      throw new BadRowException("wrong_type", "field '" + where + "' must be a string, found " + kind(e));
    }
    String s = e.getAsString();
    if (s.isEmpty()) {
      throw new BadRowException("empty_field", "field '" + where + "' is empty");
    }
    return s;
  }

  static JsonArray array(JsonObject o, String key) {
    JsonElement e = required(o, key);
    if (!e.isJsonArray()) {
      throw new BadRowException("wrong_type", "field '" + key + "' must be a list, found " + kind(e));
    }
    if (e.getAsJsonArray().isEmpty()) {
      throw new BadRowException("empty_field", "field '" + key + "' is an empty list");
    }
    return e.getAsJsonArray();
  }

  static boolean bool(JsonObject o, String key) {
    JsonElement e = required(o, key);
    if (!e.isJsonPrimitive() || !e.getAsJsonPrimitive().isBoolean()) {
      throw new BadRowException("wrong_type", "field '" + key + "' must be true or false, found " + kind(e));
    }
    return e.getAsBoolean();
  }

  /** One message in role/content or from/value spelling. */
  static Message message(JsonElement e, String where) {
    if (!e.isJsonObject()) {
      throw new BadRowException("wrong_type", where + " must be a message object, found " + kind(e));
    }
    JsonObject m = e.getAsJsonObject();
    String roleKey = m.has("role") ? "role" : "from";
    String contentKey = m.has("content") ? "content" : "value";
    JsonElement r = m.get(roleKey);
    if (r == null || !r.isJsonPrimitive()) {
      throw new BadRowException("missing_field", where + " has no 'role' (or 'from')");
    }
    String role = ROLES.get(r.getAsString());
    if (role == null) {
      throw new BadRowException(
          "unknown_role",
          where + " has role '" + r.getAsString() + "'; expected one of system, user/human, assistant/gpt");
    }
    JsonElement c = m.get(contentKey);
    if (c == null || c.isJsonNull()) {
      throw new BadRowException("missing_field", where + " has no 'content' (or 'value')");
    }
    return new Message(role, text(c, where + "." + contentKey));
  }

  static List<Message> messages(JsonObject o, String key) {
    JsonArray a = array(o, key);
    List<Message> out = new ArrayList<>(a.size());
    for (int i = 0; i < a.size(); i++) {
      out.add(message(a.get(i), key + "[" + i + "]"));
    }
    return out;
  }

  static String kind(JsonElement e) {
    if (e == null || e.isJsonNull()) {
      return "null";
    }
    if (e.isJsonArray()) {
      return "a list";
    }
    if (e.isJsonObject()) {
      return "an object";
    }
    return e.getAsJsonPrimitive().isString() ? "a string"
        : e.getAsJsonPrimitive().isBoolean() ? "a boolean" : "a number";
  }
}
