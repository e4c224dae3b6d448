package dev.tfdpo.data;

import dev.tfdpo.io.StrictJson;
import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CoderResult;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;

/**
 * What JSON inputs (configs and data rows) share beyond parsing, which is {@link StrictJson}'s (duplicate
 * keys included): strict UTF-8 with the offset of the first bad byte, and gson's messages without its
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
    return StrictJson.clean(gsonMessage);
  }
}
