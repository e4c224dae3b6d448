package dev.tfdpo.io;

import com.google.gson.JsonElement;
import com.google.gson.JsonParseException;
import com.google.gson.JsonParser;
import com.google.gson.Strictness;
import com.google.gson.stream.JsonReader;
import com.google.gson.stream.JsonToken;
import java.io.IOException;
import java.io.StringReader;

/**
 * Parses one JSON document strictly: Gson's default leniency would accept unquoted names, single quotes
 * and text after the value, so a damaged file could load as something else.
 */
public final class StrictJson {

  /** The text is not one strict JSON value; the message is the problem and its position. */
  public static final class Invalid extends Exception {
    Invalid(String problem, Throwable cause) {
      super(problem, cause);
    }
  }

  private StrictJson() {}

  /** The one JSON value in {@code text}. */
  public static JsonElement parse(String text) throws Invalid {
    try {
      JsonReader reader = new JsonReader(new StringReader(text));
      reader.setStrictness(Strictness.STRICT);
      JsonElement element = JsonParser.parseReader(reader);
      if (reader.peek() != JsonToken.END_DOCUMENT) {
        throw new Invalid("text after its JSON value", null);
      }
      return element;
    } catch (JsonParseException | IOException | IllegalStateException e) {
      throw new Invalid(problem(e), e);
    }
  }

  /**
   * Gson's message reduced to the problem and its position: its advice to switch to lenient parsing and
   * its troubleshooting link are about Gson, not about the file.
   */
  private static String problem(Exception e) {
    Throwable root = e;
    while (root.getCause() != null) {
      root = root.getCause();
    }
    String message = String.valueOf(root.getMessage());
    int newline = message.indexOf('\n');
    String firstLine = newline < 0 ? message : message.substring(0, newline);
    String gsonAdvice = "Use JsonReader.setStrictness(Strictness.LENIENT) to accept malformed JSON ";
    return firstLine.replace(gsonAdvice, "malformed JSON ").strip();
  }
}
