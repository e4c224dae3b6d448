package dev.tfdpo.io;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonNull;
import com.google.gson.JsonObject;
import com.google.gson.JsonPrimitive;
import com.google.gson.Strictness;
import com.google.gson.internal.LazilyParsedNumber;
import com.google.gson.stream.JsonReader;
import com.google.gson.stream.JsonToken;
import java.io.IOException;
import java.io.StringReader;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The one strict JSON reader every input goes through (configs, data rows, token-id rows, {@code
 * --map_keys}, a model's {@code config.json}, checkpoint files). Gson's default leniency would accept
 * unquoted names, single quotes, {@code NaN} and text after the value, and its tree keeps the last of two
 * equal keys silently, so a damaged or hand-edited file could load as something else: here each of those
 * is an error with its position.
 */
public final class StrictJson {

  /** The text is not one strict JSON value; the message is the problem and its position. */
  public static final class Invalid extends Exception {
    private final String duplicateKey;

    Invalid(String problem, Throwable cause) {
      this(problem, cause, null);
    }

    Invalid(String problem, Throwable cause, String duplicateKey) {
      super(problem, cause);
      this.duplicateKey = duplicateKey;
    }

    /** The key given twice in one object, when that is the problem; else null. */
    public String duplicateKey() {
      return duplicateKey;
    }
  }

  private static final Pattern LENIENT_ADVICE =
      Pattern.compile("Use JsonReader\\.setStrictness\\(Strictness\\.LENIENT\\) to accept malformed JSON ?");
  private static final Pattern TROUBLESHOOTING = Pattern.compile("\\s*See https://github\\.com/google/gson/\\S*");
  private static final Pattern GSON_LINE = Pattern.compile("at line (\\d+)");

  /** Deepest nesting of arrays and objects read (Gson 2.12's default limit); deeper input is an error. */
  static final int MAX_DEPTH = 255;

  private StrictJson() {}

  /** The one JSON value in {@code text}. */
  public static JsonElement parse(String text) throws Invalid {
    JsonReader reader = new JsonReader(new StringReader(text));
    JsonElement element = next(reader);
    try {
      if (reader.peek() != JsonToken.END_DOCUMENT) {
        throw new Invalid("text after its JSON value" + lineOf(reader), null);
      }
    } catch (IOException | IllegalStateException e) {
      throw new Invalid("text after its JSON value" + lineOf(reader), e);
    }
    return element;
  }

  /**
   * The next value of a stream (for example one element of a JSON array of rows), read strictly: the
   * reader is switched to {@link Strictness#STRICT}. A key given twice in one object is an error.
   */
  public static JsonElement next(JsonReader reader) throws Invalid {
    reader.setStrictness(Strictness.STRICT);
    Parse parse = new Parse(reader);
    JsonElement value;
    try {
      value = parse.value();
    } catch (IOException | IllegalStateException | NumberFormatException e) {
      throw new Invalid(clean(rootMessage(e)), e);
    }
    if (parse.duplicate != null) {
      // Reported once the whole value is read, so a stream of values can go on after this one.
      throw new Invalid("key '" + parse.duplicate + "'" + parse.duplicateLine
          + " is given twice; keep one (JSON parsers differ on which one wins)", null, parse.duplicate);
    }
    return value;
  }

  /**
   * Gson's message reduced to the problem and its position: its advice to switch to lenient parsing and
   * its troubleshooting link are about Gson, not about the file.
   */
  public static String clean(String gsonMessage) {
    if (gsonMessage == null) {
      return "malformed JSON";
    }
    String m = LENIENT_ADVICE.matcher(gsonMessage).replaceAll("malformed JSON ");
    m = TROUBLESHOOTING.matcher(m).replaceAll("").strip();
    return m.isEmpty() ? "malformed JSON" : Character.toLowerCase(m.charAt(0)) + m.substring(1);
  }

  /** One value's parse; remembers the first key given twice in an object. */
  private static final class Parse {
    final JsonReader reader;
    String duplicate;
    String duplicateLine;
    int depth;

    Parse(JsonReader reader) {
      this.reader = reader;
    }

    // Recursive, so the depth is bounded here: a hostile row of 10,000 brackets is an error, not a crash.
    JsonElement value() throws IOException {
      JsonToken token = reader.peek();
      if ((token == JsonToken.BEGIN_ARRAY || token == JsonToken.BEGIN_OBJECT) && ++depth > MAX_DEPTH) {
        throw new IllegalStateException("arrays and objects nested deeper than " + MAX_DEPTH + " levels" + lineOf(reader));
      }
      JsonElement value = switch (token) {
        case BEGIN_OBJECT -> object();
        case BEGIN_ARRAY -> {
          JsonArray array = new JsonArray();
          reader.beginArray();
          while (reader.hasNext()) {
            array.add(value());
          }
          reader.endArray();
          yield array;
        }
        case STRING -> new JsonPrimitive(reader.nextString());
        case NUMBER -> new JsonPrimitive(new LazilyParsedNumber(reader.nextString()));
        case BOOLEAN -> new JsonPrimitive(reader.nextBoolean());
        case NULL -> {
          reader.nextNull();
          yield JsonNull.INSTANCE;
        }
        default -> throw new IllegalStateException("expected a JSON value" + lineOf(reader));
      };
      if (token == JsonToken.BEGIN_ARRAY || token == JsonToken.BEGIN_OBJECT) {
        depth--;
      }
      return value;
    }

    private JsonObject object() throws IOException {
      JsonObject object = new JsonObject();
      reader.beginObject();
      while (reader.hasNext()) {
        String name = reader.nextName();
        if (object.has(name) && duplicate == null) {
          duplicate = name;
          duplicateLine = lineOf(reader);
        }
        object.add(name, value());
      }
      reader.endObject();
      return object;
    }
  }

  /** " at line N", from the position Gson only exposes in {@code toString()}; empty if unknown. */
  private static String lineOf(JsonReader reader) {
    Matcher m = GSON_LINE.matcher(reader.toString());
    return m.find() ? " at line " + m.group(1) : "";
  }

  private static String rootMessage(Throwable e) {
    Throwable root = e;
    while (root.getCause() != null) {
      root = root.getCause();
    }
    return root.getMessage();
  }
}
