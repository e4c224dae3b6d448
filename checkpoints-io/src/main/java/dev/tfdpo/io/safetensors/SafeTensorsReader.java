package dev.tfdpo.io.safetensors;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import dev.tfdpo.io.Names;
import dev.tfdpo.io.StrictJson;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.CharBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.SortedMap;
import java.util.TreeMap;
import java.util.regex.Pattern;

/**
 * Reads a safetensors file, or a model directory holding {@code model.safetensors} or a sharded {@code
 * model.safetensors.index.json}. The headers are read and validated when opening, so every later read of a
 * listed tensor stays inside its file; tensor data is memory-mapped one tensor (or one 1 GiB slice of it) at
 * a time, so files and tensors beyond 2 GiB work. Safe for concurrent reads; close it to release the files.
 */
public final class SafeTensorsReader implements AutoCloseable {

  /** Name of an unsharded model's weight file, as transformers saves it. */
  public static final String SINGLE_FILE = "model.safetensors";

  /** Name of a sharded model's index, as transformers saves it. */
  public static final String INDEX_FILE = "model.safetensors.index.json";

  /** Key of the free-form string map in a header. */
  public static final String METADATA_KEY = "__metadata__";

  /** The header size limit of the reference implementation; larger headers are refused, not allocated. */
  static final long MAX_HEADER_BYTES = 100_000_000L;

  /** Largest slice mapped at once: under the 2 GiB limit of a buffer, a multiple of every element size. */
  static final int MAX_MAP_BYTES = 1 << 30;

  private static final int MAX_JAVA_ARRAY = Integer.MAX_VALUE - 8;
  private static final int SUGGESTIONS = 5;
  private static final Pattern NON_NEGATIVE_INTEGER = Pattern.compile("0|[1-9][0-9]*");

  private final Path source;
  private final List<Shard> shards;
  private final SortedMap<String, Located> tensors;
  private final Map<String, String> metadata;
  private final int mapSliceBytes;
  private volatile boolean closed;
  /** The buffer of {@link #readFloatChunks}, grown on demand. */
  private ByteBuffer chunkBuffer;

  /** One opened safetensors file with its validated header. */
  private record Shard(
      Path file,
      FileChannel channel,
      long dataStart,
      SortedMap<String, TensorInfo> tensors,
      Map<String, String> metadata) {}

  /** A tensor and the shard holding it. */
  private record Located(TensorInfo info, Shard shard) {}

  private SafeTensorsReader(
      Path source,
      List<Shard> shards,
      SortedMap<String, Located> tensors,
      Map<String, String> metadata,
      int mapSliceBytes) {
    this.source = source;
    this.mapSliceBytes = mapSliceBytes;
    this.shards = List.copyOf(shards);
    this.tensors = Collections.unmodifiableSortedMap(tensors);
    this.metadata = Collections.unmodifiableMap(metadata);
  }

  /**
   * Opens a {@code .safetensors} file, a {@code model.safetensors.index.json}, or a directory holding
   * {@code model.safetensors} (preferred when both exist, as transformers does) or the index.
   */
  public static SafeTensorsReader open(Path fileOrDir) throws IOException {
    return open(fileOrDir, MAX_MAP_BYTES);
  }

  /**
   * As {@link #open(Path)}, mapping at most {@code mapSliceBytes} (a positive multiple of 8) at a time, so
   * tests can exercise the slicing of tensors beyond 1 GiB on tiny files.
   */
  static SafeTensorsReader open(Path fileOrDir, int mapSliceBytes) throws IOException {
    if (mapSliceBytes <= 0 || mapSliceBytes % Long.BYTES != 0) {
      throw new IllegalArgumentException(
          "mapSliceBytes must be a positive multiple of 8, got " + mapSliceBytes);
    }
    if (Files.isDirectory(fileOrDir)) {
      Path single = fileOrDir.resolve(SINGLE_FILE);
      if (Files.isRegularFile(single)) {
        return openFile(single, mapSliceBytes);
      }
      Path index = fileOrDir.resolve(INDEX_FILE);
      if (Files.isRegularFile(index)) {
        return openIndex(index, mapSliceBytes);
      }
      throw new SafeTensorsException(
          fileOrDir,
          "directory holds neither " + SINGLE_FILE + " nor " + INDEX_FILE
              + "; pass a model directory saved by transformers or a .safetensors file");
    }
    if (!Files.exists(fileOrDir)) {
      throw new SafeTensorsException(fileOrDir, "no such file or directory");
    }
    if (fileOrDir.getFileName().toString().endsWith(".index.json")) {
      return openIndex(fileOrDir, mapSliceBytes);
    }
    return openFile(fileOrDir, mapSliceBytes);
  }

  private static SafeTensorsReader openFile(Path file, int mapSliceBytes) throws IOException {
    Shard shard = openShard(file);
    SortedMap<String, Located> located = new TreeMap<>();
    shard.tensors().forEach((name, info) -> located.put(name, new Located(info, shard)));
    return new SafeTensorsReader(file, List.of(shard), located, shard.metadata(), mapSliceBytes);
  }

  /**
   * Opens every shard the index names and checks each tensor is in the shard the index says. The index's
   * {@code metadata} (values as their JSON text, e.g. {@code total_size}) is laid over the first shard's
   * {@code __metadata__} (e.g. {@code format}).
   */
  private static SafeTensorsReader openIndex(Path index, int mapSliceBytes) throws IOException {
    JsonObject root = parseIndex(index);
    Path dir = index.toAbsolutePath().getParent();
    Map<String, String> weightMap = weightMap(index, root);
    Map<String, Shard> shardsByFile = new TreeMap<>();
    try {
      SortedMap<String, Located> located = new TreeMap<>();
      for (Map.Entry<String, String> entry : weightMap.entrySet()) {
        String tensor = entry.getKey();
        String shardName = entry.getValue();
        Shard shard = shardsByFile.get(shardName);
        if (shard == null) {
          Path shardFile = shardPath(index, dir, tensor, shardName);
          shard = openShard(shardFile);
          shardsByFile.put(shardName, shard);
        }
        TensorInfo info = shard.tensors().get(tensor);
        if (info == null) {
          throw new SafeTensorsException(
              index,
              tensor,
              "the index maps this tensor to shard " + shardName + ", but that shard has no such tensor"
                  + closeNamesHint(tensor, shard.tensors().keySet())
                  + "; the shard and the index come from different saves");
        }
        located.put(tensor, new Located(info, shard));
      }
      List<Shard> shards = new ArrayList<>(shardsByFile.values());
      Map<String, String> metadata = new TreeMap<>();
      if (!shards.isEmpty()) {
        metadata.putAll(shards.get(0).metadata());
      }
      metadata.putAll(indexMetadata(index, root));
      return new SafeTensorsReader(index, shards, located, metadata, mapSliceBytes);
    } catch (IOException | RuntimeException | Error e) {
      for (Shard shard : shardsByFile.values()) {
        closeQuietly(shard.channel(), e);
      }
      throw e;
    }
  }

  private static JsonObject parseIndex(Path index) throws IOException {
    String text;
    try {
      text = Files.readString(index, StandardCharsets.UTF_8);
    } catch (CharacterCodingException e) {
      throw new SafeTensorsException(index, null, "index is not valid UTF-8", e);
    }
    JsonElement parsed = parseStrictJson(index, "index", text);
    if (!parsed.isJsonObject()) {
      throw new SafeTensorsException(index, "index must be a JSON object, found " + describe(parsed));
    }
    return parsed.getAsJsonObject();
  }

  private static Map<String, String> weightMap(Path index, JsonObject root) throws SafeTensorsException {
    JsonElement weightMap = root.get("weight_map");
    if (weightMap == null || !weightMap.isJsonObject()) {
      throw new SafeTensorsException(
          index, "index has no \"weight_map\" object mapping tensor names to shard files");
    }
    Map<String, String> result = new TreeMap<>();
    for (Map.Entry<String, JsonElement> entry : weightMap.getAsJsonObject().entrySet()) {
      JsonElement value = entry.getValue();
      if (!value.isJsonPrimitive() || !value.getAsJsonPrimitive().isString()) {
        throw new SafeTensorsException(
            index, entry.getKey(), "weight_map value must be a shard file name, found " + describe(value));
      }
      result.put(entry.getKey(), value.getAsString());
    }
    return result;
  }

  private static Map<String, String> indexMetadata(Path index, JsonObject root)
      throws SafeTensorsException {
    JsonElement metadata = root.get("metadata");
    Map<String, String> result = new TreeMap<>();
    if (metadata == null || metadata.isJsonNull()) {
      return result;
    }
    if (!metadata.isJsonObject()) {
      throw new SafeTensorsException(
          index, "index \"metadata\" must be an object, found " + describe(metadata));
    }
    for (Map.Entry<String, JsonElement> entry : metadata.getAsJsonObject().entrySet()) {
      JsonElement value = entry.getValue();
      String text = value.isJsonPrimitive() ? value.getAsString() : value.toString();
      result.put(entry.getKey(), text);
    }
    return result;
  }

  private static Path shardPath(Path index, Path dir, String tensor, String shardName)
      throws SafeTensorsException {
    Path shardFile = dir.resolve(shardName).normalize();
    if (!Objects.equals(shardFile.getParent(), dir.normalize())) {
      throw new SafeTensorsException(
          index, tensor, "shard name " + shardName + " is not a plain file name in the index's directory");
    }
    if (!Files.isRegularFile(shardFile)) {
      throw new SafeTensorsException(
          index,
          tensor,
          "the index maps this tensor to shard " + shardName + ", which does not exist in " + dir
              + "; the model was copied or downloaded only in part");
    }
    return shardFile;
  }

  private static Shard openShard(Path file) throws IOException {
    FileChannel channel;
    try {
      channel = FileChannel.open(file, StandardOpenOption.READ);
    } catch (NoSuchFileException e) {
      throw new SafeTensorsException(file, null, "no such file", e);
    }
    try {
      return readHeader(file, channel);
    } catch (IOException | RuntimeException | Error e) {
      closeQuietly(channel, e);
      throw e;
    }
  }

  /** Reads and validates the header; sizes are checked against the file before anything is allocated. */
  private static Shard readHeader(Path file, FileChannel channel) throws IOException {
    long fileSize = channel.size();
    if (fileSize < Long.BYTES) {
      throw new SafeTensorsException(
          file,
          "file is " + fileSize + " bytes long, shorter than the 8-byte header length at its start;"
              + " it is truncated or not a safetensors file");
    }
    ByteBuffer lengthBytes = ByteBuffer.allocate(Long.BYTES).order(ByteOrder.LITTLE_ENDIAN);
    readFully(channel, lengthBytes, 0);
    long headerLength = lengthBytes.getLong(0);
    long bytesAfterLength = fileSize - Long.BYTES;
    // A negative value is an unsigned length of 2^63 or more, beyond any file.
    if (headerLength < 0 || headerLength > bytesAfterLength) {
      throw new SafeTensorsException(
          file,
          "header length field says " + Long.toUnsignedString(headerLength) + " bytes, but only "
              + bytesAfterLength + " bytes follow it; the file is truncated or not a safetensors file");
    }
    if (headerLength > MAX_HEADER_BYTES) {
      throw new SafeTensorsException(
          file,
          "header length " + headerLength + " exceeds the " + MAX_HEADER_BYTES
              + "-byte limit of the safetensors format; the file is corrupt");
    }
    ByteBuffer headerBytes = ByteBuffer.allocate((int) headerLength);
    readFully(channel, headerBytes, Long.BYTES);
    headerBytes.flip();
    String headerText = decodeUtf8(file, headerBytes);
    JsonElement header = parseStrictJson(file, "header", headerText);
    if (!header.isJsonObject()) {
      throw new SafeTensorsException(file, "header must be a JSON object, found " + describe(header));
    }
    long dataStart = Long.BYTES + headerLength;
    long dataSize = fileSize - dataStart;
    SortedMap<String, TensorInfo> tensors = new TreeMap<>();
    Map<String, String> metadata = new TreeMap<>();
    for (Map.Entry<String, JsonElement> entry : header.getAsJsonObject().entrySet()) {
      if (entry.getKey().equals(METADATA_KEY)) {
        metadata.putAll(headerMetadata(file, entry.getValue()));
      } else {
        TensorInfo info = tensorInfo(file, entry.getKey(), entry.getValue(), dataSize);
        tensors.put(info.name(), info);
      }
    }
    checkNoOverlap(file, tensors.values());
    return new Shard(file, channel, dataStart, tensors, metadata);
  }

  private static String decodeUtf8(Path file, ByteBuffer bytes) throws SafeTensorsException {
    try {
      CharBuffer chars =
          StandardCharsets.UTF_8
              .newDecoder()
              .onMalformedInput(CodingErrorAction.REPORT)
              .onUnmappableCharacter(CodingErrorAction.REPORT)
              .decode(bytes);
      return chars.toString();
    } catch (CharacterCodingException e) {
      throw new SafeTensorsException(file, null, "header is not valid UTF-8; the file is corrupt", e);
    }
  }

  /** Parses one JSON document strictly ({@link StrictJson}). */
  private static JsonElement parseStrictJson(Path file, String what, String text)
      throws SafeTensorsException {
    try {
      return StrictJson.parse(text);
    } catch (StrictJson.Invalid e) {
      if (e.getCause() == null) {
        throw new SafeTensorsException(file, what + " has " + e.getMessage() + "; the file is corrupt");
      }
      throw new SafeTensorsException(
          file, null, what + " is not valid JSON (" + e.getMessage() + "); the file is corrupt", e);
    }
  }

  private static Map<String, String> headerMetadata(Path file, JsonElement value)
      throws SafeTensorsException {
    if (!value.isJsonObject()) {
      throw new SafeTensorsException(
          file, METADATA_KEY + " must be an object of strings, found " + describe(value));
    }
    Map<String, String> result = new TreeMap<>();
    for (Map.Entry<String, JsonElement> entry : value.getAsJsonObject().entrySet()) {
      JsonElement item = entry.getValue();
      if (!item.isJsonPrimitive() || !item.getAsJsonPrimitive().isString()) {
        throw new SafeTensorsException(
            file,
            METADATA_KEY + " value for key '" + entry.getKey() + "' must be a string, found "
                + describe(item));
      }
      result.put(entry.getKey(), item.getAsString());
    }
    return result;
  }

  private static TensorInfo tensorInfo(Path file, String name, JsonElement value, long dataSize)
      throws SafeTensorsException {
    if (!value.isJsonObject()) {
      throw new SafeTensorsException(
          file,
          name,
          "header entry must be an object with dtype, shape and data_offsets, found " + describe(value));
    }
    JsonObject entry = value.getAsJsonObject();
    DType dtype = dtype(file, name, entry.get("dtype"));
    long[] shape = nonNegativeIntegers(file, name, "shape", entry.get("shape"), -1);
    long[] offsets = nonNegativeIntegers(file, name, "data_offsets", entry.get("data_offsets"), 2);
    long begin = offsets[0];
    long end = offsets[1];
    if (end < begin) {
      throw new SafeTensorsException(
          file,
          name,
          "data_offsets " + Arrays.toString(offsets) + " end before they begin; the header is corrupt");
    }
    if (end > dataSize) {
      throw new SafeTensorsException(
          file,
          name,
          "data_offsets " + Arrays.toString(offsets) + " run past the end of the " + dataSize
              + "-byte data buffer; the file is truncated or the header is corrupt");
    }
    long expectedBytes = expectedBytes(file, name, dtype, shape);
    if (end - begin != expectedBytes) {
      throw new SafeTensorsException(
          file,
          name,
          "data_offsets " + Arrays.toString(offsets) + " span " + (end - begin) + " bytes, but shape "
              + Arrays.toString(shape) + " of " + dtype + " needs " + expectedBytes
              + "; the header is corrupt");
    }
    return new TensorInfo(name, dtype, shape, begin, end);
  }

  private static DType dtype(Path file, String name, JsonElement value) throws SafeTensorsException {
    if (value == null || !value.isJsonPrimitive() || !value.getAsJsonPrimitive().isString()) {
      throw new SafeTensorsException(file, name, "\"dtype\" must be a string, found " + describe(value));
    }
    String text = value.getAsString();
    return DType.fromSafetensorsName(text)
        .orElseThrow(
            () ->
                new SafeTensorsException(
                    file,
                    name,
                    "dtype \"" + text + "\" is not supported (supported: " + DType.supportedNames()
                        + "); convert the model to one of those types"));
  }

  /**
   * Reads an array of integers, checking the digits as written: Gson would silently truncate {@code 1.5}
   * or wrap a value beyond {@code long}.
   */
  private static long[] nonNegativeIntegers(
      Path file, String name, String field, JsonElement value, int requiredLength)
      throws SafeTensorsException {
    if (value == null || !value.isJsonArray()) {
      throw new SafeTensorsException(
          file, name, "\"" + field + "\" must be an array, found " + describe(value));
    }
    var array = value.getAsJsonArray();
    if (requiredLength >= 0 && array.size() != requiredLength) {
      throw new SafeTensorsException(
          file, name, "\"" + field + "\" must hold " + requiredLength + " integers, found " + array);
    }
    long[] result = new long[array.size()];
    for (int i = 0; i < result.length; i++) {
      JsonElement item = array.get(i);
      boolean isNumber = item.isJsonPrimitive() && item.getAsJsonPrimitive().isNumber();
      String text = isNumber ? item.getAsString() : "";
      if (!isNumber || !NON_NEGATIVE_INTEGER.matcher(text).matches()) {
        String what = field.equals("shape") ? "dimensions" : "offsets";
        throw new SafeTensorsException(
            file,
            name,
            "\"" + field + "\" " + array + " has " + what + " that are not non-negative integers");
      }
      try {
        result[i] = Long.parseLong(text);
      } catch (NumberFormatException e) {
        throw new SafeTensorsException(file, name, "\"" + field + "\" value " + text + " is too large", e);
      }
    }
    return result;
  }

  private static long expectedBytes(Path file, String name, DType dtype, long[] shape)
      throws SafeTensorsException {
    try {
      long count = 1;
      for (long dim : shape) {
        count = Math.multiplyExact(count, dim);
      }
      return Math.multiplyExact(count, dtype.byteSize());
    } catch (ArithmeticException e) {
      throw new SafeTensorsException(
          file,
          name,
          "shape " + Arrays.toString(shape) + " is too large to address; the header is corrupt",
          e);
    }
  }

  private static void checkNoOverlap(Path file, Iterable<TensorInfo> infos) throws SafeTensorsException {
    List<TensorInfo> byOffset = new ArrayList<>();
    for (TensorInfo info : infos) {
      // An empty tensor occupies no bytes, so it cannot collide with anything.
      if (info.byteLength() > 0) {
        byOffset.add(info);
      }
    }
    byOffset.sort(Comparator.comparingLong(TensorInfo::begin).thenComparingLong(TensorInfo::end));
    for (int i = 1; i < byOffset.size(); i++) {
      TensorInfo previous = byOffset.get(i - 1);
      TensorInfo current = byOffset.get(i);
      if (current.begin() < previous.end()) {
        throw new SafeTensorsException(
            file,
            current.name(),
            "bytes [" + current.begin() + ", " + current.end() + ") overlap tensor '" + previous.name()
                + "' at [" + previous.begin() + ", " + previous.end() + "); the header is corrupt");
      }
    }
  }

  /** Where the tensors were opened from: a file, or the index of a sharded model. */
  public Path source() {
    return source;
  }

  /** The files holding tensor data, in name order. */
  public List<Path> files() {
    return shards.stream().map(Shard::file).toList();
  }

  /** All tensor names, sorted. */
  public Set<String> names() {
    return tensors.keySet();
  }

  /** True when a tensor of that name exists. */
  public boolean contains(String name) {
    return tensors.containsKey(name);
  }

  /** The header entry of {@code name}; an unknown name is an error listing the closest names. */
  public TensorInfo info(String name) throws SafeTensorsException {
    return locate(name).info();
  }

  /** The file holding {@code name}. */
  public Path fileOf(String name) throws SafeTensorsException {
    return locate(name).shard().file();
  }

  /** The header's {@code __metadata__} (for a sharded model, see {@link #open}). */
  public Map<String, String> metadata() {
    return metadata;
  }

  /**
   * The tensor as floats: F32 as stored, BF16 and F16 widened exactly, F64 rounded to nearest float. An
   * integer tensor is an error (use {@link #readLongs}).
   */
  public float[] readFloats(String name) throws IOException {
    Located located = locate(name);
    TensorInfo info = located.info();
    DType dtype = info.dtype();
    if (!dtype.isFloatingPoint()) {
      throw new SafeTensorsException(
          located.shard().file(),
          name,
          "has integer dtype " + dtype + "; readFloats reads F32, F16, BF16 or F64 tensors, use readLongs");
    }
    float[] out = new float[arrayLength(located)];
    forEachSlice(
        located,
        (slice, first) -> {
          int count = slice.remaining() / dtype.byteSize();
          switch (dtype) {
            case F32 -> slice.asFloatBuffer().get(out, first, count);
            case F64 -> {
              var doubles = slice.asDoubleBuffer();
              for (int i = 0; i < count; i++) {
                out[first + i] = (float) doubles.get(i);
              }
            }
            case BF16 -> {
              var shorts = slice.asShortBuffer();
              for (int i = 0; i < count; i++) {
                out[first + i] = FloatFormats.fromBFloat16(shorts.get(i));
              }
            }
            case F16 -> {
              var shorts = slice.asShortBuffer();
              for (int i = 0; i < count; i++) {
                out[first + i] = FloatFormats.fromFloat16(shorts.get(i));
              }
            }
          }
        });
    return out;
  }

  /** Receives a tensor's values a chunk at a time ({@link #readFloatChunks}). */
  @FunctionalInterface
  public interface FloatChunkConsumer {
    /**
     * {@code chunk[0..count)} are the values of elements {@code first .. first+count-1}; an exception
     * ends the read.
     */
    void accept(float[] chunk, int count, long first) throws IOException;
  }

  /**
   * The tensor as floats, converted as {@link #readFloats} does, handed to {@code consumer} in chunks of
   * at most {@code chunk.length} values written into {@code chunk} (reused between calls): the whole
   * tensor is never on the Java heap at once, and tensors over 2^31 elements can be read. The bytes come
   * by positional reads, not a mapping, so the file's pages stay in the page cache and do not count
   * towards this process's resident memory. Chunked reads of one reader take turns (they share a buffer).
   */
  public synchronized void readFloatChunks(String name, float[] chunk, FloatChunkConsumer consumer)
      throws IOException {
    Located located = locate(name);
    DType dtype = located.info().dtype();
    if (!dtype.isFloatingPoint()) {
      throw new SafeTensorsException(located.shard().file(), name,
          "has integer dtype " + dtype + "; readFloatChunks reads F32, F16, BF16 or F64 tensors");
    }
    if (closed) {
      throw new IllegalStateException(this + " is closed");
    }
    int size = dtype.byteSize();
    long total = located.info().numElements();
    long position = located.shard().dataStart() + located.info().begin();
    ByteBuffer bytes = chunkBuffer(chunk.length * size);
    for (long first = 0; first < total; first += chunk.length) {
      int count = (int) Math.min(chunk.length, total - first);
      bytes.clear().limit(count * size);
      try {
        readFully(located.shard().channel(), bytes, position + first * size);
      } catch (IOException e) {
        throw new SafeTensorsException(located.shard().file(), name, "cannot read its bytes: " + e.getMessage(), e);
      }
      decodeFloats(bytes.flip(), dtype, chunk, count);
      consumer.accept(chunk, count, first);
    }
  }

  /** Converts {@code count} stored values of {@code dtype} from {@code bytes} into {@code out[0..count)}. */
  private static void decodeFloats(ByteBuffer bytes, DType dtype, float[] out, int count) {
    switch (dtype) {
      case F32 -> bytes.asFloatBuffer().get(out, 0, count);
      case F64 -> {
        var doubles = bytes.asDoubleBuffer();
        for (int i = 0; i < count; i++) {
          out[i] = (float) doubles.get(i);
        }
      }
      case BF16 -> {
        var shorts = bytes.asShortBuffer();
        for (int i = 0; i < count; i++) {
          out[i] = FloatFormats.fromBFloat16(shorts.get(i));
        }
      }
      case F16 -> {
        var shorts = bytes.asShortBuffer();
        for (int i = 0; i < count; i++) {
          out[i] = FloatFormats.fromFloat16(shorts.get(i));
        }
      }
      default -> throw new IllegalArgumentException(dtype + " is not a float format");
    }
  }

  /** A reused direct buffer: its float view copies in bulk, where a heap buffer's converts one by one. */
  private ByteBuffer chunkBuffer(int bytes) {
    if (chunkBuffer == null || chunkBuffer.capacity() < bytes) {
      chunkBuffer = ByteBuffer.allocateDirect(bytes).order(ByteOrder.LITTLE_ENDIAN);
    }
    return chunkBuffer;
  }

  /**
   * The tensor as longs: I64 as stored, narrower integers sign-extended (U8 and BOOL zero-extended). A
   * floating-point tensor is an error (use {@link #readFloats}).
   */
  public long[] readLongs(String name) throws IOException {
    Located located = locate(name);
    DType dtype = located.info().dtype();
    if (dtype.isFloatingPoint()) {
      throw new SafeTensorsException(
          located.shard().file(),
          name,
          "has floating-point dtype " + dtype + "; readLongs reads integer tensors (I64, I32, I16, I8, U8,"
              + " BOOL), use readFloats");
    }
    long[] out = new long[arrayLength(located)];
    forEachSlice(
        located,
        (slice, first) -> {
          int count = slice.remaining() / dtype.byteSize();
          switch (dtype) {
            case I64 -> slice.asLongBuffer().get(out, first, count);
            case I32 -> {
              var ints = slice.asIntBuffer();
              for (int i = 0; i < count; i++) {
                out[first + i] = ints.get(i);
              }
            }
            case I16 -> {
              var shorts = slice.asShortBuffer();
              for (int i = 0; i < count; i++) {
                out[first + i] = shorts.get(i);
              }
            }
            case I8 -> {
              for (int i = 0; i < count; i++) {
                out[first + i] = slice.get(i);
              }
            }
            case U8, BOOL -> {
              for (int i = 0; i < count; i++) {
                out[first + i] = slice.get(i) & 0xFF;
              }
            }
          }
        });
    return out;
  }

  /**
   * A read-only little-endian view of the tensor's bytes, memory-mapped. Tensors over 2 GiB do not fit one
   * buffer; read those with {@link #readFloats}.
   */
  public ByteBuffer rawBytes(String name) throws IOException {
    Located located = locate(name);
    TensorInfo info = located.info();
    if (info.byteLength() > Integer.MAX_VALUE) {
      throw new SafeTensorsException(
          located.shard().file(),
          name,
          "is " + info.byteLength() + " bytes, more than one ByteBuffer holds (2 GiB); use readFloats");
    }
    return map(located, 0, (int) info.byteLength());
  }

  @Override
  public void close() throws IOException {
    closed = true;
    IOException first = null;
    for (Shard shard : shards) {
      try {
        shard.channel().close();
      } catch (IOException e) {
        if (first == null) {
          first = e;
        } else {
          first.addSuppressed(e);
        }
      }
    }
    if (first != null) {
      throw first;
    }
  }

  @Override
  public String toString() {
    return "SafeTensorsReader(" + source + ", " + tensors.size() + " tensors)";
  }

  /** Receives consecutive slices of a tensor's data and the index of each slice's first element. */
  @FunctionalInterface
  private interface SliceConsumer {
    void accept(ByteBuffer slice, int firstElement);
  }

  private void forEachSlice(Located located, SliceConsumer consumer) throws IOException {
    TensorInfo info = located.info();
    int elementSize = info.dtype().byteSize();
    long total = info.byteLength();
    for (long offset = 0; offset < total; offset += mapSliceBytes) {
      int length = (int) Math.min(mapSliceBytes, total - offset);
      ByteBuffer slice = map(located, offset, length);
      consumer.accept(slice, (int) (offset / elementSize));
    }
  }

  private ByteBuffer map(Located located, long offsetInTensor, int length) throws IOException {
    if (closed) {
      throw new IllegalStateException(this + " is closed");
    }
    Shard shard = located.shard();
    long position = shard.dataStart() + located.info().begin() + offsetInTensor;
    try {
      ByteBuffer mapped = shard.channel().map(FileChannel.MapMode.READ_ONLY, position, length);
      return mapped.order(ByteOrder.LITTLE_ENDIAN);
    } catch (IOException e) {
      throw new SafeTensorsException(
          shard.file(), located.info().name(), "cannot map the tensor's bytes: " + e.getMessage(), e);
    }
  }

  private int arrayLength(Located located) throws SafeTensorsException {
    long count = located.info().numElements();
    if (count > MAX_JAVA_ARRAY) {
      throw new SafeTensorsException(
          located.shard().file(),
          located.info().name(),
          "has " + count + " elements, more than a Java array holds (" + MAX_JAVA_ARRAY + ")");
    }
    return (int) count;
  }

  private Located locate(String name) throws SafeTensorsException {
    Located located = tensors.get(name);
    if (located == null) {
      throw new SafeTensorsException(
          source,
          name,
          "no tensor of that name among the " + tensors.size() + " tensors"
              + closeNamesHint(name, tensors.keySet()));
    }
    return located;
  }

  /** A message fragment naming the few known names nearest to {@code wanted} by edit distance. */
  static String closeNamesHint(String wanted, Set<String> known) {
    if (known.isEmpty()) {
      return " (there are none)";
    }
    List<String> closest = Names.nearest(wanted, known, SUGGESTIONS);
    return " (closest: " + String.join(", ", closest) + ")";
  }

  private static void readFully(FileChannel channel, ByteBuffer buffer, long position) throws IOException {
    long at = position;
    while (buffer.hasRemaining()) {
      int read = channel.read(buffer, at);
      if (read < 0) {
        throw new IOException("unexpected end of file at byte " + at);
      }
      at += read;
    }
  }

  private static String describe(JsonElement element) {
    if (element == null) {
      return "nothing";
    }
    String text = element.toString();
    return text.length() > 80 ? text.substring(0, 77) + "..." : text;
  }

  private static void closeQuietly(FileChannel channel, Throwable primary) {
    try {
      channel.close();
    } catch (IOException e) {
      primary.addSuppressed(e);
    }
  }
}
