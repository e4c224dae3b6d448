package dev.tfdpo.data;

import com.google.gson.Gson;
import com.google.gson.GsonBuilder;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import com.google.gson.reflect.TypeToken;
import dev.tfdpo.tokenizer.Tokenizers;
import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.MappedByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Tokenized pairs stored once and memory-mapped at training time.
 *
 * <p>Layout, little-endian: 8-byte magic {@code TFDPOPR1}; int32 header length; the UTF-8 JSON header
 * (pair and id counts, tokenizer fingerprint, the token settings of {@link DataOptions#tokenSettings()},
 * the data summary); zero padding to a multiple of 8; int64 {@code offsets[3N+1]} (pair i's prompt,
 * chosen and rejected ids start at offsets 3i, 3i+1, 3i+2 of the id array, and end at the next offset);
 * int64 {@code index[N]} (each pair's row in the source file); int32 {@code ids[]}.
 */
public final class PreprocessedFile {

  private static final byte[] MAGIC = "TFDPOPR1".getBytes(StandardCharsets.US_ASCII);
  private static final int VERSION = 1;
  private static final long CHUNK = 1L << 30;
  private static final Gson GSON = new GsonBuilder().serializeNulls().create();

  private PreprocessedFile() {}

  /** True when {@code file} starts with the magic bytes. */
  public static boolean isPreprocessed(Path file) throws IOException {
    if (!Files.isRegularFile(file) || Files.size(file) < MAGIC.length) {
      return false;
    }
    try (InputStream in = Files.newInputStream(file)) {
      return Arrays.equals(in.readNBytes(MAGIC.length), MAGIC);
    }
  }

  /**
   * Reads and tokenizes {@code options.path()} (streamed) and writes the result to {@code output}.
   *
   * @return the summary of the data read
   */
  public static DataSummary write(DataOptions options, Path output) throws IOException {
    Path ids = Files.createTempFile(output.toAbsolutePath().getParent(), ".ids", ".tmp");
    LongList offsets = new LongList();
    LongList index = new LongList();
    try {
      DataSummary summary = writeIds(options, ids, offsets, index);
      byte[] header = header(options, summary, index.size(), offsets.get(offsets.size() - 1));
      Path tmp = Files.createTempFile(output.toAbsolutePath().getParent(), ".pre", ".tmp");
      try (OutputStream out = new BufferedOutputStream(Files.newOutputStream(tmp), 1 << 16)) {
        out.write(MAGIC);
        out.write(le(4).putInt(header.length).array());
        out.write(header);
        long written = MAGIC.length + 4L + header.length;
        out.write(new byte[(int) ((8 - written % 8) % 8)]);
        ByteBuffer b8 = le(8);
        for (int i = 0; i < offsets.size(); i++) {
          out.write(b8.clear().putLong(offsets.get(i)).array());
        }
        for (int i = 0; i < index.size(); i++) {
          out.write(b8.clear().putLong(index.get(i)).array());
        }
        Files.copy(ids, out);
      }
      Files.move(tmp, output, StandardCopyOption.REPLACE_EXISTING);
      return summary;
    } finally {
      Files.deleteIfExists(ids);
    }
  }

  /**
   * Streams the data set's token ids (prompt, chosen, rejected of each pair) to {@code ids} as little-endian
   * int32, recording each part's start in {@code offsets} (plus the end) and each pair's row in {@code index}.
   */
  private static DataSummary writeIds(DataOptions options, Path ids, LongList offsets, LongList index)
      throws IOException {
    try (OutputStream out = new BufferedOutputStream(Files.newOutputStream(ids), 1 << 16)) {
      ByteBuffer buf = ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN);
      long[] at = {0};
      DataSummary summary = DatasetLoader.stream(options, p -> {
        index.add(p.index());
        for (int[] part : new int[][] {p.promptIds(), p.chosenIds(), p.rejectedIds()}) {
          offsets.add(at[0]);
          try {
            for (int id : part) {
              buf.clear();
              out.write(buf.putInt(id).array());
            }
          } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
          }
          at[0] += part.length;
        }
      }, null);
      offsets.add(at[0]);
      return summary;
    }
  }

  /** The JSON header: format version, counts, tokenizer and its fingerprint, token settings, summary. */
  private static byte[] header(DataOptions options, DataSummary summary, int pairs, long idCount) {
    JsonObject header = new JsonObject();
    header.addProperty("version", VERSION);
    header.addProperty("pairs", pairs);
    header.addProperty("ids", idCount);
    header.addProperty("tokenizer", summary.tokenizer());
    header.addProperty("tokenizer_fingerprint", summary.tokenizerFingerprint());
    header.add("settings", GSON.toJsonTree(options.tokenSettings()));
    header.add("summary", JsonParser.parseString(summary.toJson()));
    return GSON.toJson(header).getBytes(StandardCharsets.UTF_8);
  }

  /**
   * Maps a preprocessed file, refusing it when its tokenizer or token settings differ from
   * {@code options}'s.
   */
  public static LoadedDataset open(DataOptions options) throws IOException {
    Path file = options.path();
    try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
      ByteBuffer head = ByteBuffer.allocate(MAGIC.length + 4).order(ByteOrder.LITTLE_ENDIAN);
      ch.read(head, 0);
      int hlen = head.getInt(MAGIC.length);
      ByteBuffer hb = ByteBuffer.allocate(hlen);
      ch.read(hb, MAGIC.length + 4);
      JsonObject header = JsonParser.parseString(new String(hb.array(), StandardCharsets.UTF_8)).getAsJsonObject();
      if (header.get("version").getAsInt() != VERSION) {
        throw new IllegalArgumentException(
            file + " is a preprocessed file of version " + header.get("version") + "; this build reads version "
                + VERSION + ": preprocess the data again");
      }
      check(file, header, options);
      long pairs = header.get("pairs").getAsLong();
      long ids = header.get("ids").getAsLong();
      long start = MAGIC.length + 4L + hlen;
      start += (8 - start % 8) % 8;
      long offBytes = (3 * pairs + 1) * 8;
      if (offBytes + pairs * 8 > Integer.MAX_VALUE) {
        throw new IllegalArgumentException(file + ": over " + (Integer.MAX_VALUE / 32) + " pairs; split the data set");
      }
      MappedByteBuffer off = map(ch, start, offBytes);
      MappedByteBuffer idx = map(ch, start + offBytes, pairs * 8);
      long idsAt = start + offBytes + pairs * 8;
      if (ch.size() != idsAt + ids * 4) {
        throw new IllegalArgumentException(file + " is truncated or corrupt (size " + ch.size() + ", expected "
            + (idsAt + ids * 4) + "): preprocess the data again");
      }
      MappedByteBuffer[] chunks = new MappedByteBuffer[(int) ((ids * 4 + CHUNK - 1) / CHUNK)];
      for (int i = 0; i < chunks.length; i++) {
        long from = i * CHUNK;
        chunks[i] = map(ch, idsAt + from, Math.min(CHUNK, ids * 4 - from));
      }
      DataSummary summary = DataSummary.fromJson(header.get("summary").toString()).readFrom(file.toString());
      return new LoadedDataset(new Mapped((int) pairs, off, idx, chunks), summary);
    }
  }

  private static void check(Path file, JsonObject header, DataOptions options) {
    Map<String, Object> want = options.tokenSettings();
    Map<String, Object> have =
        GSON.fromJson(header.get("settings"), new TypeToken<LinkedHashMap<String, Object>>() {}.getType());
    // Files written before packing existed were made with the per-sequence limits.
    have.putIfAbsent("packing", false);
    StringBuilder diff = new StringBuilder();
    for (Map.Entry<String, Object> e : want.entrySet()) {
      String key = e.getKey();
      if (key.equals("dataset_format") && "auto".equals(e.getValue())) {
        continue;
      }
      JsonElement a = GSON.toJsonTree(e.getValue());
      JsonElement b = GSON.toJsonTree(have.get(key));
      if (!numbersEqual(a, b)) {
        diff.append("\n  ").append(key).append(": file ").append(b).append(", requested ").append(a);
      }
    }
    if (diff.length() > 0) {
      throw new IllegalArgumentException(
          file + " was preprocessed with other settings:" + diff
              + "\nPreprocess the data again with these settings, or request the file's settings.");
    }
    JsonElement fp = header.get("tokenizer_fingerprint");
    if (fp == null || fp.isJsonNull()) {
      return;
    }
    if (options.modelDir() == null && options.tokenizerPath() == null) {
      throw new IllegalArgumentException(
          file + " was tokenized with tokenizer " + fp.getAsString() + "; set model_name_or_path (or "
              + "tokenizer_name_or_path) so it can be checked against the model's tokenizer");
    }
    Tokenizers.Located located = Tokenizers.locate(options.modelDir(), options.tokenizerPath());
    String mine = located.fingerprint();
    if (!mine.equals(fp.getAsString())) {
      throw new IllegalArgumentException(
          file + " was tokenized with another tokenizer (fingerprint " + fp.getAsString() + ") than "
              + located.tokenizerFile() + " (fingerprint " + mine + "); preprocess the data again with this "
              + "model's tokenizer");
    }
  }

  // Gson reads JSON numbers as doubles; 1024 and 1024.0 are the same setting.
  private static boolean numbersEqual(JsonElement a, JsonElement b) {
    if (a.isJsonPrimitive() && b.isJsonPrimitive() && a.getAsJsonPrimitive().isNumber()
        && b.getAsJsonPrimitive().isNumber()) {
      return a.getAsDouble() == b.getAsDouble();
    }
    return a.equals(b);
  }

  private static MappedByteBuffer map(FileChannel ch, long at, long size) throws IOException {
    MappedByteBuffer b = ch.map(FileChannel.MapMode.READ_ONLY, at, size);
    b.order(ByteOrder.LITTLE_ENDIAN);
    return b;
  }

  private static ByteBuffer le(int n) {
    return ByteBuffer.allocate(n).order(ByteOrder.LITTLE_ENDIAN);
  }

  /** The memory-mapped {@link PairSource}. */
  private static final class Mapped implements PairSource {
    private final int size;
    private final MappedByteBuffer offsets;
    private final MappedByteBuffer index;
    private final MappedByteBuffer[] chunks;

    Mapped(int size, MappedByteBuffer offsets, MappedByteBuffer index, MappedByteBuffer[] chunks) {
      this.size = size;
      this.offsets = offsets;
      this.index = index;
      this.chunks = chunks;
    }

    @Override
    public int size() {
      return size;
    }

    @Override
    public TokenizedPair get(int position) {
      if (position < 0 || position >= size) {
        throw new IndexOutOfBoundsException("pair " + position + " of " + size);
      }
      long p = offsets.getLong(position * 24);
      long c = offsets.getLong(position * 24 + 8);
      long r = offsets.getLong(position * 24 + 16);
      long end = offsets.getLong(position * 24 + 24);
      return new TokenizedPair(index.getLong(position * 8), ids(p, c), ids(c, r), ids(r, end));
    }

    // Ids are 4-byte aligned and chunks a multiple of 4 bytes long, so no id straddles two chunks.
    private int[] ids(long from, long to) {
      int[] out = new int[(int) (to - from)];
      for (int i = 0; i < out.length; i++) {
        long byteAt = (from + i) * 4;
        out[i] = chunks[(int) (byteAt / CHUNK)].getInt((int) (byteAt % CHUNK));
      }
      return out;
    }
  }

  /** A growable {@code long[]}. */
  private static final class LongList {
    private long[] data = new long[64];
    private int size;

    void add(long v) {
      if (size == data.length) {
        data = Arrays.copyOf(data, size * 2);
      }
      data[size++] = v;
    }

    long get(int i) {
      return data[i];
    }

    int size() {
      return size;
    }
  }
}
