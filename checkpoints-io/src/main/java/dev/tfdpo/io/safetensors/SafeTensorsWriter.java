package dev.tfdpo.io.safetensors;

import com.google.gson.stream.JsonWriter;
import dev.tfdpo.io.DurableFiles;
import java.io.IOException;
import java.io.StringWriter;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.EnumSet;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.regex.Pattern;

/**
 * Writes float tensors as safetensors files, byte-compatible with what transformers' {@code
 * save_pretrained} produces: compact JSON header with {@code __metadata__} first, tensors sorted by name and
 * packed without gaps, header padded with spaces to a multiple of 8 bytes. The same input always gives the
 * same bytes. Every file is written to a temporary in its directory, fsynced and renamed into place, so a
 * crash leaves either the old file or the new one.
 */
public final class SafeTensorsWriter {

  /** The metadata transformers writes into every PyTorch-saved file. */
  public static final Map<String, String> PT_METADATA = Map.of("format", "pt");

  /** Types float data can be stored as. */
  public static final Set<DType> STORABLE = EnumSet.of(DType.F32, DType.BF16, DType.F16);

  private static final int HEADER_ALIGNMENT = 8;
  private static final int WRITE_BUFFER_BYTES = 1 << 20;
  private static final String INDEX_NAME = SafeTensorsReader.INDEX_FILE;
  private static final Pattern SHARD_NAME = Pattern.compile("model-\\d{5}-of-\\d{5}\\.safetensors");

  private SafeTensorsWriter() {}

  /**
   * Writes {@code tensors} to {@code file}, converting the floats to {@code storeAs} (F32, BF16 or F16,
   * rounding to nearest even). {@code metadata} may be null or empty, in which case no {@code __metadata__}
   * entry is written.
   */
  public static void write(Path file, List<? extends TensorSource> tensors, DType storeAs, Map<String, String> metadata)
      throws IOException {
    checkStorable(storeAs);
    List<TensorSource> sorted = sortedByName(tensors);
    byte[] header = header(sorted, storeAs, metadata == null ? Map.of() : metadata);
    DurableFiles.writeAtomically(
        file,
        channel -> {
          ByteBuffer length = ByteBuffer.allocate(Long.BYTES).order(ByteOrder.LITTLE_ENDIAN);
          length.putLong(header.length).flip();
          writeFully(channel, length);
          writeFully(channel, ByteBuffer.wrap(header));
          writeData(channel, sorted, storeAs);
        });
  }

  /**
   * Writes a model's weights into {@code dir} as transformers does: one {@code model.safetensors} when
   * their stored size fits {@code maxShardBytes}, otherwise shards {@code model-00001-of-0000K.safetensors}
   * (filled in name order, a tensor larger than the limit alone in its shard) plus {@code
   * model.safetensors.index.json}.
   * Weight files of an earlier save in {@code dir} that this save did not write are removed afterwards, so a
   * reader never mixes two saves. Returns the files written, the index last.
   */
  public static List<Path> writeModel(Path dir, List<? extends TensorSource> tensors, DType storeAs, long maxShardBytes)
      throws IOException {
    return writeModel(dir, tensors, storeAs, maxShardBytes, Map.of());
  }

  /** {@link #writeModel(Path, List, DType, long)} with {@code extra} entries added to every file's metadata. */
  public static List<Path> writeModel(Path dir, List<? extends TensorSource> tensors, DType storeAs, long maxShardBytes,
      Map<String, String> extra) throws IOException {
    Map<String, String> metadata = new TreeMap<>(PT_METADATA);
    metadata.putAll(extra);
    checkStorable(storeAs);
    if (maxShardBytes <= 0) {
      throw new IllegalArgumentException("maxShardBytes must be positive, got " + maxShardBytes);
    }
    List<TensorSource> sorted = sortedByName(tensors);
    Files.createDirectories(dir);
    long totalBytes = 0;
    for (TensorSource tensor : sorted) {
      totalBytes += storedBytes(tensor, storeAs);
    }
    List<Path> written = new ArrayList<>();
    if (totalBytes <= maxShardBytes) {
      Path file = dir.resolve(SafeTensorsReader.SINGLE_FILE);
      write(file, sorted, storeAs, metadata);
      written.add(file);
    } else {
      List<List<TensorSource>> shards = shard(sorted, storeAs, maxShardBytes);
      Map<String, String> weightMap = new TreeMap<>();
      for (int i = 0; i < shards.size(); i++) {
        String shardName = String.format("model-%05d-of-%05d.safetensors", i + 1, shards.size());
        Path file = dir.resolve(shardName);
        write(file, shards.get(i), storeAs, metadata);
        written.add(file);
        for (TensorSource tensor : shards.get(i)) {
          weightMap.put(tensor.name(), shardName);
        }
      }
      Path index = dir.resolve(SafeTensorsReader.INDEX_FILE);
      byte[] indexJson = indexJson(totalBytes, weightMap);
      DurableFiles.writeAtomically(index, channel -> writeFully(channel, ByteBuffer.wrap(indexJson)));
      written.add(index);
    }
    removeStaleWeightFiles(dir, written);
    return written;
  }

  /** Bytes {@code tensor} takes when stored as {@code storeAs}. */
  public static long storedBytes(TensorSource tensor, DType storeAs) {
    return tensor.elementCount() * storeAs.byteSize();
  }

  private static List<List<TensorSource>> shard(List<TensorSource> sorted, DType storeAs, long maxShardBytes) {
    return consecutiveGroups(sorted, tensor -> storedBytes(tensor, storeAs), maxShardBytes);
  }

  /**
   * {@code items} in order, cut into consecutive groups of at most {@code maxBytes} each (an item larger
   * than that forms a group of its own): transformers' shard rule, also the weight loader's run rule.
   */
  public static <T> List<List<T>> consecutiveGroups(List<T> items, java.util.function.ToLongFunction<T> bytes,
      long maxBytes) {
    List<List<T>> groups = new ArrayList<>();
    List<T> current = new ArrayList<>();
    long size = 0;
    for (T item : items) {
      long b = bytes.applyAsLong(item);
      if (!current.isEmpty() && size + b > maxBytes) {
        groups.add(current);
        current = new ArrayList<>();
        size = 0;
      }
      current.add(item);
      size += b;
    }
    if (!current.isEmpty()) {
      groups.add(current);
    }
    return groups;
  }

  /** The index as transformers writes it: {@code json.dumps(index, indent=2, sort_keys=True) + "\n"}. */
  private static byte[] indexJson(long totalBytes, Map<String, String> weightMap) throws IOException {
    StringWriter text = new StringWriter();
    JsonWriter json = new JsonWriter(text);
    json.setIndent("  ");
    json.beginObject();
    json.name("metadata").beginObject().name("total_size").value(totalBytes).endObject();
    json.name("weight_map").beginObject();
    for (Map.Entry<String, String> entry : weightMap.entrySet()) {
      json.name(entry.getKey()).value(entry.getValue());
    }
    json.endObject();
    json.endObject();
    json.flush();
    text.write("\n");
    return text.toString().getBytes(StandardCharsets.UTF_8);
  }

  private static void removeStaleWeightFiles(Path dir, List<Path> written) throws IOException {
    Set<Path> keep = new HashSet<>();
    for (Path file : written) {
      keep.add(file.getFileName());
    }
    List<Path> stale = new ArrayList<>();
    try (DirectoryStream<Path> entries = Files.newDirectoryStream(dir)) {
      for (Path entry : entries) {
        String name = entry.getFileName().toString();
        boolean weightFile =
            name.equals(SafeTensorsReader.SINGLE_FILE)
                || name.equals(SafeTensorsReader.INDEX_FILE)
                || SHARD_NAME.matcher(name).matches();
        if (weightFile && !keep.contains(entry.getFileName())) {
          stale.add(entry);
        }
      }
    }
    // The index goes first: without it nothing points at the old shards, even if a crash cuts this short.
    stale.sort(Comparator.comparing((Path p) -> !p.getFileName().toString().equals(INDEX_NAME)));
    for (Path file : stale) {
      Files.deleteIfExists(file);
    }
    if (!stale.isEmpty()) {
      DurableFiles.fsyncDirectory(dir);
    }
  }

  private static void checkStorable(DType storeAs) {
    if (!STORABLE.contains(storeAs)) {
      throw new IllegalArgumentException(
          "float tensors can be stored as " + STORABLE + ", not " + storeAs);
    }
  }

  private static List<TensorSource> sortedByName(List<? extends TensorSource> tensors) {
    List<TensorSource> sorted = new ArrayList<>(tensors);
    sorted.sort(Comparator.comparing(TensorSource::name));
    for (int i = 0; i < sorted.size(); i++) {
      String name = sorted.get(i).name();
      if (name.isEmpty() || name.equals(SafeTensorsReader.METADATA_KEY)) {
        throw new IllegalArgumentException("tensor name '" + name + "' is reserved or empty");
      }
      if (i > 0 && sorted.get(i - 1).name().equals(name)) {
        throw new IllegalArgumentException("tensor name '" + name + "' appears twice");
      }
    }
    return sorted;
  }

  /** The compact header JSON, padded with spaces so the data buffer starts 8-byte aligned. */
  private static byte[] header(List<TensorSource> sorted, DType storeAs, Map<String, String> metadata) {
    StringWriter text = new StringWriter();
    try {
      JsonWriter json = new JsonWriter(text);
      json.beginObject();
      if (!metadata.isEmpty()) {
        json.name(SafeTensorsReader.METADATA_KEY).beginObject();
        for (Map.Entry<String, String> entry : new TreeMap<>(metadata).entrySet()) {
          if (entry.getValue() == null) {
            throw new IllegalArgumentException("metadata key '" + entry.getKey() + "' has a null value");
          }
          json.name(entry.getKey()).value(entry.getValue());
        }
        json.endObject();
      }
      long offset = 0;
      for (TensorSource tensor : sorted) {
        long end = offset + storedBytes(tensor, storeAs);
        json.name(tensor.name()).beginObject();
        json.name("dtype").value(storeAs.safetensorsName());
        json.name("shape").beginArray();
        for (long dim : tensor.shape()) {
          json.value(dim);
        }
        json.endArray();
        json.name("data_offsets").beginArray().value(offset).value(end).endArray();
        json.endObject();
        offset = end;
      }
      json.endObject();
      json.flush();
    } catch (IOException e) {
      throw new UncheckedIOException("writing to a StringWriter cannot fail", e);
    }
    byte[] raw = text.toString().getBytes(StandardCharsets.UTF_8);
    int padded = (raw.length + HEADER_ALIGNMENT - 1) / HEADER_ALIGNMENT * HEADER_ALIGNMENT;
    byte[] header = Arrays.copyOf(raw, padded);
    Arrays.fill(header, raw.length, padded, (byte) ' ');
    return header;
  }

  /**
   * The tensors' values, converted and packed through one 1 MB buffer: each tensor streams its values in
   * chunks (a live variable is fetched only when its turn comes), so the heap never holds the model.
   */
  private static void writeData(FileChannel channel, List<TensorSource> sorted, DType storeAs)
      throws IOException {
    ByteBuffer buffer = ByteBuffer.allocate(WRITE_BUFFER_BYTES).order(ByteOrder.LITTLE_ENDIAN);
    for (TensorSource tensor : sorted) {
      long[] written = {0};
      tensor.stream((values, length) -> {
        for (int i = 0; i < length; i++) {
          if (buffer.remaining() < storeAs.byteSize()) {
            buffer.flip();
            writeFully(channel, buffer);
            buffer.clear();
          }
          float value = values[i];
          switch (storeAs) {
            case F32 -> buffer.putFloat(value);
            case BF16 -> buffer.putShort(FloatFormats.toBFloat16(value));
            case F16 -> buffer.putShort(FloatFormats.toFloat16(value));
            default -> throw new IllegalStateException("not storable: " + storeAs);
          }
        }
        written[0] += length;
      });
      if (written[0] != tensor.elementCount()) {
        throw new IOException("tensor " + tensor.name() + " streamed " + written[0] + " values, its shape "
            + Arrays.toString(tensor.shape()) + " holds " + tensor.elementCount());
      }
    }
    buffer.flip();
    writeFully(channel, buffer);
  }

  private static void writeFully(FileChannel channel, ByteBuffer buffer) throws IOException {
    while (buffer.hasRemaining()) {
      channel.write(buffer);
    }
  }
}
