package dev.tfdpo.report;

import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.zip.CRC32C;

/**
 * TFRecord framing as TensorFlow writes it: little-endian uint64 length, masked CRC32C of those 8 bytes,
 * the payload, masked CRC32C of the payload.
 */
final class TfRecord {

  private static final int MASK_DELTA = 0xa282ead8;

  private TfRecord() {}

  /** TensorFlow's masked CRC32C: stored CRCs are rotated and offset so that CRCs of CRCs stay distinct. */
  static int maskedCrc32c(byte[] data, int offset, int length) {
    CRC32C crc = new CRC32C();
    crc.update(data, offset, length);
    int raw = (int) crc.getValue();
    return ((raw >>> 15) | (raw << 17)) + MASK_DELTA;
  }

  static void write(OutputStream out, byte[] payload) throws IOException {
    byte[] header = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(payload.length).array();
    out.write(header);
    out.write(littleEndian(maskedCrc32c(header, 0, header.length)));
    out.write(payload);
    out.write(littleEndian(maskedCrc32c(payload, 0, payload.length)));
  }

  /**
   * Reads the next record's payload, or null at a clean end of stream (no byte of a new record).
   *
   * @param where names the file in error messages
   * @param offset byte offset of the record, for error messages
   */
  static byte[] read(InputStream in, String where, long offset) throws IOException {
    byte[] header = new byte[8];
    int first = in.readNBytes(header, 0, header.length);
    if (first == 0) {
      return null;
    }
    if (first < header.length) {
      throw truncated(where, offset);
    }
    int storedLengthCrc = readInt(in, where, offset);
    if (storedLengthCrc != maskedCrc32c(header, 0, header.length)) {
      throw new IOException(where + ": corrupt record at byte " + offset
          + ": the length's CRC does not match (the file is damaged or not a TFRecord file)");
    }
    long length = ByteBuffer.wrap(header).order(ByteOrder.LITTLE_ENDIAN).getLong();
    if (length < 0 || length > Integer.MAX_VALUE - 8) {
      throw new IOException(where + ": record at byte " + offset + " claims " + length + " bytes");
    }
    byte[] payload = in.readNBytes((int) length);
    if (payload.length < length) {
      throw truncated(where, offset);
    }
    int storedDataCrc = readInt(in, where, offset);
    if (storedDataCrc != maskedCrc32c(payload, 0, payload.length)) {
      throw new IOException(where + ": corrupt record at byte " + offset
          + ": the data's CRC does not match (the file is damaged)");
    }
    return payload;
  }

  /** Bytes one record of {@code payloadLength} bytes occupies in the file. */
  static long framedLength(int payloadLength) {
    return 8L + 4 + payloadLength + 4;
  }

  private static int readInt(InputStream in, String where, long offset) throws IOException {
    byte[] b = in.readNBytes(4);
    if (b.length < 4) {
      throw truncated(where, offset);
    }
    return ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).getInt();
  }

  private static IOException truncated(String where, long offset) {
    return new EOFException(where + ": truncated record at byte " + offset
        + " (the file ends mid-record; is the writer still running or was it killed?)");
  }

  private static byte[] littleEndian(int value) {
    return ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putInt(value).array();
  }
}
