package dev.tfdpo.data;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.stream.JsonReader;
import com.google.gson.stream.JsonToken;
import dev.tfdpo.io.StrictJson;
import java.io.BufferedInputStream;
import java.io.BufferedReader;
import java.io.Closeable;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.nio.charset.CodingErrorAction;
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
  private final InputStream bytes;
  private final JsonReader array;
  private int lineNo;
  private long offset;
  private boolean arrayDone;
  private byte[] line = new byte[1 << 12];

  RowReader(Path file) throws IOException {
    this.file = file;
    InputStream in = new BufferedInputStream(Files.newInputStream(file), 1 << 16);
    if (file.getFileName().toString().endsWith(".gz")) {
      try {
        in = new BufferedInputStream(new GZIPInputStream(in, 1 << 16), 1 << 16);
      } catch (java.util.zip.ZipException e) {
        in.close();
        throw new DataFormatException(file, 0, "the name ends in .gz but the file is not gzip data (" + e.getMessage() + ")");
      }
    }
    in.mark(1 << 12);
    int c;
    int seen = 0;
    while ((c = in.read()) != -1 && Character.isWhitespace(c) && ++seen < (1 << 12) - 1) {
      // skip leading blanks to find the first character
    }
    in.reset();
    if (c == '[') {
      // Strict decoding: a byte that is not UTF-8 stops the file (an array has no row boundary to skip to).
      var decoder = StandardCharsets.UTF_8.newDecoder()
          .onMalformedInput(CodingErrorAction.REPORT).onUnmappableCharacter(CodingErrorAction.REPORT);
      this.array = new JsonReader(new BufferedReader(new InputStreamReader(in, decoder), 1 << 16));
      this.bytes = null;
      try {
        array.beginArray();
      } catch (IOException | IllegalStateException e) {
        throw new DataFormatException(file, 1, "invalid JSON array: " + (e instanceof java.nio.charset.CharacterCodingException
            ? "invalid UTF-8 at byte offset " + firstInvalidUtf8(file) + "; the file must be UTF-8"
            : JsonText.clean(e.getMessage())));
      }
    } else {
      this.bytes = in;
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

  // JSON lines are split as bytes, so that a line that is not UTF-8 is one bad row, named with its offset.
  private Row nextLine() throws IOException {
    int length;
    while ((length = readLine()) >= 0) {
      lineNo++;
      long lineStart = offset - length - 1;
      int end = length > 0 && line[length - 1] == '\r' ? length - 1 : length;
      String text;
      try {
        text = JsonText.decode(line, 0, end, lineStart);
      } catch (JsonText.InvalidUtf8 e) {
        return new Row(lineNo, null, new BadRowException("invalid_utf8", e.getMessage()
            + " (byte " + (e.offset() - lineStart + 1) + " of the line); the file must be UTF-8"));
      }
      if (text.isBlank()) {
        continue;
      }
      try {
        return row(lineNo, StrictJson.parse(text));
      } catch (StrictJson.Invalid ex) {
        return new Row(lineNo, null, badJson(ex));
      }
    }
    return null;
  }

  /** Reads the next line's bytes (without the newline) into {@link #line}; -1 at the end of the file. */
  private int readLine() throws IOException {
    int n = 0;
    int c;
    while ((c = bytes.read()) != -1 && c != '\n') {
      if (n == line.length) {
        line = java.util.Arrays.copyOf(line, n * 2);
      }
      line[n++] = (byte) c;
    }
    if (c == -1 && n == 0) {
      return -1;
    }
    offset += n + 1;
    return n;
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
      try {
        return row(line, StrictJson.next(array));
      } catch (StrictJson.Invalid ex) {
        if (ex.duplicateKey() == null) {
          throw ex;
        }
        return new Row(line, null, badJson(ex)); // the whole element was read: the next row can follow
      }
    } catch (StrictJson.Invalid | IllegalStateException | IOException ex) {
      String why = isEncodingError(ex)
          ? "invalid UTF-8 at byte offset " + firstInvalidUtf8(file) + "; the file must be UTF-8"
          : JsonText.clean(ex.getMessage());
      throw new DataFormatException(
          file, currentLine(), "invalid JSON in the array; fix the file (no row after this point can be read): " + why);
    }
  }

  /** A parsed row: an object, or a bad row saying what it is instead. */
  private static Row row(int line, JsonElement e) {
    if (!e.isJsonObject()) {
      return new Row(line, null, new BadRowException("not_an_object", "expected a JSON object, found " + Json.kind(e)));
    }
    return new Row(line, e.getAsJsonObject(), null);
  }

  /** A row that is not strict JSON: a key given twice, or a syntax error. */
  private static BadRowException badJson(StrictJson.Invalid ex) {
    return ex.duplicateKey() != null
        ? new BadRowException("duplicate_key", "key '" + ex.duplicateKey() + "' appears twice in the row")
        : new BadRowException("invalid_json", "invalid JSON: " + ex.getMessage());
  }

  // Gson reports its position only inside toString(): "JsonReader at line 12 column 3 path $[4]".
  private int currentLine() {
    Matcher m = GSON_LINE.matcher(array.toString());
    return m.find() ? Integer.parseInt(m.group(1)) : 0;
  }

  /** Offset of the first byte of {@code file} (uncompressed) that is not UTF-8, or -1; read in chunks. */
  static long firstInvalidUtf8(Path file) throws IOException {
    var decoder = StandardCharsets.UTF_8.newDecoder()
        .onMalformedInput(CodingErrorAction.REPORT).onUnmappableCharacter(CodingErrorAction.REPORT);
    InputStream raw = Files.newInputStream(file);
    try (InputStream in = file.getFileName().toString().endsWith(".gz") ? new GZIPInputStream(raw, 1 << 16) : raw) {
      java.nio.ByteBuffer buffer = java.nio.ByteBuffer.allocate(1 << 16);
      java.nio.CharBuffer chars = java.nio.CharBuffer.allocate(1 << 17);
      long consumed = 0;
      boolean end = false;
      while (!end) {
        int n = in.read(buffer.array(), buffer.position(), buffer.remaining());
        end = n < 0;
        buffer.position(buffer.position() + Math.max(n, 0));
        buffer.flip();
        int before = buffer.position();
        var result = decoder.decode(buffer, chars, end);
        if (result.isError()) {
          return consumed + buffer.position() - before;
        }
        consumed += buffer.position() - before;
        chars.clear();
        buffer.compact();
      }
      return -1;
    }
  }

  /** The decoder's error (bytes that are not UTF-8), however deep the parser wrapped it. */
  private static boolean isEncodingError(Throwable e) {
    for (Throwable t = e; t != null; t = t.getCause()) {
      if (t instanceof java.nio.charset.CharacterCodingException) {
        return true;
      }
    }
    return false;
  }

  @Override
  public void close() throws IOException {
    if (array != null) {
      array.close();
    } else {
      bytes.close();
    }
  }
}
