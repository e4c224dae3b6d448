package dev.tfdpo.data;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParseException;
import com.google.gson.JsonParser;
import com.google.gson.stream.JsonReader;
import com.google.gson.stream.JsonToken;
import java.io.BufferedInputStream;
import java.io.BufferedReader;
import java.io.Closeable;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.PushbackReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.zip.GZIPInputStream;

/**
 * Streams the rows of a data file one at a time: JSON lines, or a JSON array of objects (decided by the
 * first non-blank character), either optionally gzip-compressed ({@code .gz}). Nothing holds the whole
 * file in memory.
 */
final class RowReader implements Closeable {

  /** One row: its object, or why it is not one. */
  record Row(int line, JsonObject object, BadRowException error) {}

  private static final Pattern GSON_LINE = Pattern.compile("at line (\\d+)");

  private final Path file;
  private final BufferedReader lines;
  private final JsonReader array;
  private int lineNo;
  private boolean arrayDone;

  RowReader(Path file) throws IOException {
    this.file = file;
    InputStream in = new BufferedInputStream(Files.newInputStream(file), 1 << 16);
    if (file.getFileName().toString().endsWith(".gz")) {
      in = new GZIPInputStream(in, 1 << 16);
    }
    PushbackReader reader = new PushbackReader(new InputStreamReader(in, StandardCharsets.UTF_8), 1 << 12);
    int c;
    StringBuilder leading = new StringBuilder();
    while ((c = reader.read()) != -1 && Character.isWhitespace(c) && leading.length() < (1 << 12) - 1) {
      leading.append((char) c);
    }
    if (c != -1) {
      reader.unread(c);
    }
    reader.unread(leading.toString().toCharArray());
    if (c == '[') {
      this.array = new JsonReader(new BufferedReader(reader, 1 << 16));
      this.lines = null;
      try {
        array.beginArray();
      } catch (IOException | IllegalStateException e) {
        throw new DataFormatException(file, 1, "invalid JSON array: " + e.getMessage());
      }
    } else {
      this.lines = new BufferedReader(reader, 1 << 16);
      this.array = null;
    }
  }

  /** True for a JSON array file. */
  boolean isArray() {
    return array != null;
  }

  /** The next row, or null at the end of the file. */
  Row next() throws IOException {
    return array != null ? nextElement() : nextLine();
  }

  private Row nextLine() throws IOException {
    String line;
    while ((line = lines.readLine()) != null) {
      lineNo++;
      if (line.isBlank()) {
        continue;
      }
      try {
        JsonElement e = JsonParser.parseString(line);
        if (!e.isJsonObject()) {
          return new Row(lineNo, null, new BadRowException("not_an_object", "expected a JSON object, found " + Json.kind(e)));
        }
        return new Row(lineNo, e.getAsJsonObject(), null);
      } catch (JsonParseException ex) {
        return new Row(lineNo, null, new BadRowException("invalid_json", "invalid JSON: " + rootMessage(ex)));
      }
    }
    return null;
  }

  // Inside an array a syntax error leaves no safe place to resume, so it ends the file with an error.
  private Row nextElement() throws IOException {
    if (arrayDone) {
      return null;
    }
    try {
      if (array.peek() == JsonToken.END_ARRAY) {
        arrayDone = true;
        return null;
      }
      int line = currentLine();
      JsonElement e = JsonParser.parseReader(array);
      if (!e.isJsonObject()) {
        return new Row(line, null, new BadRowException("not_an_object", "expected a JSON object, found " + Json.kind(e)));
      }
      return new Row(line, e.getAsJsonObject(), null);
    } catch (JsonParseException | IllegalStateException | IOException ex) {
      throw new DataFormatException(
          file, currentLine(), "invalid JSON in the array; fix the file (no row after this point can be read): "
              + rootMessage(ex));
    }
  }

  // Gson reports its position only inside toString(): "JsonReader at line 12 column 3 path $[4]".
  private int currentLine() {
    Matcher m = GSON_LINE.matcher(array.toString());
    return m.find() ? Integer.parseInt(m.group(1)) : 0;
  }

  private static String rootMessage(Exception e) {
    Throwable t = e;
    while (t.getCause() != null) {
      t = t.getCause();
    }
    return t.getMessage();
  }

  @Override
  public void close() throws IOException {
    if (array != null) {
      array.close();
    } else {
      lines.close();
    }
  }
}
