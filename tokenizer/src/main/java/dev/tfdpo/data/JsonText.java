package dev.tfdpo.data;

import com.google.gson.stream.JsonReader;
import com.google.gson.stream.JsonToken;
import java.io.IOException;
import java.io.StringReader;
import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CoderResult;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.HashSet;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * What JSON inputs (configs and data rows) share beyond parsing: strict UTF-8 with the offset of the
 * first bad byte, duplicate keys found (gson keeps the last silently), and gson's messages without its
 * advice to parse leniently, which is advice for programmers, not for the person whose file is wrong.
 */
public final class JsonText {

  /** Invalid UTF-8: where the first bad byte is. */
  public static final class InvalidUtf8 extends CharacterCodingException {
    private static final long serialVersionUID = 1L;
    private final long offset;

    InvalidUtf8(long offset) {
      this.offset = offset;
    }

    /** 0-based offset of the first byte that is not valid UTF-8. */
    public long offset() {
      return offset;
    }

    @Override
    public String getMessage() {
      return "invalid UTF-8 at byte offset " + offset;
    }
  }

  private static final Pattern LENIENT_ADVICE =
      Pattern.compile("Use JsonReader\\.setStrictness\\(Strictness\\.LENIENT\\) to accept malformed JSON ?");
  private static final Pattern TROUBLESHOOTING = Pattern.compile("\\s*See https://github\\.com/google/gson/\\S*");
  private static final Pattern GSON_LINE = Pattern.compile("at line (\\d+)");

  private JsonText() {}

  /** {@code bytes[from, to)} as UTF-8; throws {@link InvalidUtf8} with the offset from {@code base}. */
  public static String decode(byte[] bytes, int from, int to, long base) throws InvalidUtf8 {
    CharsetDecoder decoder = StandardCharsets.UTF_8.newDecoder()
        .onMalformedInput(CodingErrorAction.REPORT).onUnmappableCharacter(CodingErrorAction.REPORT);
    ByteBuffer in = ByteBuffer.wrap(bytes, from, to - from);
    CharBuffer out = CharBuffer.allocate((int) ((to - from) * (double) decoder.maxCharsPerByte()) + 1);
    CoderResult r = decoder.decode(in, out, true);
    if (r.isError()) {
      throw new InvalidUtf8(base + in.position() - from);
    }
    r = decoder.flush(out);
    if (r.isError()) {
      throw new InvalidUtf8(base + in.position() - from);
    }
    return out.flip().toString();
  }

  /** A gson error message without the lenient-parsing advice and the troubleshooting link. */
  public static String clean(String gsonMessage) {
    if (gsonMessage == null) {
      return "malformed JSON";
    }
    String m = LENIENT_ADVICE.matcher(gsonMessage).replaceAll("");
    m = TROUBLESHOOTING.matcher(m).replaceAll("");
    return m.isEmpty() ? "malformed JSON" : Character.toLowerCase(m.charAt(0)) + m.substring(1);
  }

  /**
   * The first key that appears twice in one object of {@code json} (at any depth), as {@code "'key' at
   * line N"}, or null. The text must already be valid JSON.
   */
  public static String firstDuplicateKey(String json) {
    try (JsonReader reader = new JsonReader(new StringReader(json))) {
      return duplicateIn(reader);
    } catch (IOException | IllegalStateException e) {
      return null; // invalid JSON is reported by the parser
    }
  }

  private static String duplicateIn(JsonReader reader) throws IOException {
    JsonToken token = reader.peek();
    if (token == JsonToken.BEGIN_OBJECT) {
      reader.beginObject();
      Set<String> names = new HashSet<>();
      while (reader.hasNext()) {
        String name = reader.nextName();
        if (!names.add(name)) {
          Matcher m = GSON_LINE.matcher(reader.toString());
          return "'" + name + "'" + (m.find() ? " at line " + m.group(1) : "");
        }
        String inner = duplicateIn(reader);
        if (inner != null) {
          return inner;
        }
      }
      reader.endObject();
    } else if (token == JsonToken.BEGIN_ARRAY) {
      reader.beginArray();
      while (reader.hasNext()) {
        String inner = duplicateIn(reader);
        if (inner != null) {
          return inner;
        }
      }
      reader.endArray();
    } else {
      reader.skipValue();
    }
    return null;
  }
}
