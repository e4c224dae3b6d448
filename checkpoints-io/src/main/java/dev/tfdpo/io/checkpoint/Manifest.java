package dev.tfdpo.io.checkpoint;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.stream.JsonWriter;
import dev.tfdpo.io.StrictJson;
import java.io.IOException;
import java.io.StringWriter;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.List;
import java.util.Objects;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * A checkpoint's {@code manifest.json}: the step, a format version, and every other file in the directory
 * with its size and SHA-256, sorted by path. Paths are relative with {@code /} separators.
 *
 * @param formatVersion {@link #FORMAT_VERSION} when written by this build
 * @param step the training step the checkpoint was saved at
 * @param files the files, sorted by path
 */
public record Manifest(int formatVersion, long step, List<FileEntry> files) {

  /** The version this build writes and the newest it reads. */
  public static final int FORMAT_VERSION = 1;

  /** The {@code format} value identifying these manifests. */
  public static final String FORMAT = "tfdpo-checkpoint";

  private static final int HASH_BUFFER_BYTES = 1 << 20;
  private static final Pattern SHA256_HEX = Pattern.compile("[0-9a-f]{64}");

  /**
   * One listed file.
   *
   * @param path relative path with {@code /} separators
   * @param size length in bytes
   * @param sha256 lowercase hex digest
   */
  public record FileEntry(String path, long size, String sha256) {

    /** Checks the fields are well-formed. */
    public FileEntry {
      Objects.requireNonNull(path, "path");
      Objects.requireNonNull(sha256, "sha256");
    }
  }

  /** Sorts and freezes the file list. */
  public Manifest {
    List<FileEntry> sorted = new ArrayList<>(files);
    sorted.sort(Comparator.comparing(FileEntry::path));
    files = List.copyOf(sorted);
  }

  /**
   * Lists every file under {@code directory} with size and SHA-256, fsyncing each one on the way (the hash
   * pass has the file open anyway). The content must be regular files and directories only, and must not
   * contain {@code manifest.json}.
   */
  public static Manifest describe(Path directory, long step) throws IOException {
    List<FileEntry> entries = new ArrayList<>();
    List<Path> paths;
    try (Stream<Path> walk = Files.walk(directory)) {
      paths = walk.sorted().toList();
    }
    for (Path path : paths) {
      BasicFileAttributes attributes =
          Files.readAttributes(path, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
      if (attributes.isDirectory()) {
        continue;
      }
      String relative = relativeName(directory, path);
      if (!attributes.isRegularFile()) {
        throw new CheckpointException(
            "checkpoint content " + path + " is not a regular file (a link or device); write plain files");
      }
      if (relative.equals(Checkpoints.MANIFEST)) {
        throw new CheckpointException(
            "checkpoint content wrote " + path + ", but " + Checkpoints.MANIFEST
                + " is reserved for the checkpoint writer; store that data under another name");
      }
      entries.add(hashAndSync(path, relative));
    }
    return new Manifest(FORMAT_VERSION, step, entries);
  }

  /** The manifest as indented JSON with a trailing newline. */
  public byte[] toJson() {
    StringWriter text = new StringWriter();
    try {
      JsonWriter json = new JsonWriter(text);
      json.setIndent("  ");
      json.beginObject();
      json.name("format").value(FORMAT);
      json.name("format_version").value(formatVersion);
      json.name("step").value(step);
      json.name("files").beginArray();
      for (FileEntry file : files) {
        json.beginObject();
        json.name("path").value(file.path());
        json.name("size").value(file.size());
        json.name("sha256").value(file.sha256());
        json.endObject();
      }
      json.endArray();
      json.endObject();
      json.flush();
    } catch (IOException e) {
      throw new UncheckedIOException("writing to a StringWriter cannot fail", e);
    }
    text.write("\n");
    return text.toString().getBytes(StandardCharsets.UTF_8);
  }

  /**
   * Parses {@code text} read from {@code source}; a malformed manifest, one of a newer format version, or
   * one listing an unsafe path is an error saying what is wrong.
   */
  public static Manifest parse(Path source, String text) throws CheckpointException {
    JsonObject root;
    try {
      JsonElement parsed = StrictJson.parse(text);
      if (!parsed.isJsonObject()) {
        throw new CheckpointException(source + ": not a JSON object");
      }
      root = parsed.getAsJsonObject();
    } catch (StrictJson.Invalid e) {
      throw new CheckpointException(source + ": not valid JSON (" + e.getMessage() + ")", e);
    }
    if (!FORMAT.equals(stringField(root, "format"))) {
      throw new CheckpointException(source + ": \"format\" is not \"" + FORMAT + "\"");
    }
    long version = longField(source, root, "format_version");
    if (version < 1 || version > FORMAT_VERSION) {
      throw new CheckpointException(
          source + ": format_version " + version + " is not one this build reads (1 to " + FORMAT_VERSION
              + "); use the tfdpo version that wrote the checkpoint");
    }
    long step = longField(source, root, "step");
    JsonElement filesElement = root.get("files");
    if (filesElement == null || !filesElement.isJsonArray()) {
      throw new CheckpointException(source + ": \"files\" must be an array");
    }
    JsonArray filesArray = filesElement.getAsJsonArray();
    List<FileEntry> files = new ArrayList<>();
    for (int i = 0; i < filesArray.size(); i++) {
      files.add(fileEntry(source, i, filesArray.get(i)));
    }
    return new Manifest((int) version, step, files);
  }

  /** Reads {@code directory/manifest.json}. */
  public static Manifest read(Path directory) throws IOException {
    Path file = directory.resolve(Checkpoints.MANIFEST);
    return parse(file, Files.readString(file, StandardCharsets.UTF_8));
  }

  /** True when {@code path} is a plain relative path that cannot leave the checkpoint directory. */
  static boolean isSafeRelativePath(String path) {
    if (path.isEmpty() || path.startsWith("/") || path.contains("\\")) {
      return false;
    }
    for (String part : path.split("/", -1)) {
      if (part.isEmpty() || part.equals(".") || part.equals("..")) {
        return false;
      }
    }
    return true;
  }

  /** SHA-256 of a file as lowercase hex, with its length. */
  static FileEntry hash(Path file, String relative) throws IOException {
    return digest(file, relative, false);
  }

  private static FileEntry hashAndSync(Path file, String relative) throws IOException {
    return digest(file, relative, true);
  }

  private static FileEntry digest(Path file, String relative, boolean sync) throws IOException {
    MessageDigest sha256 = newSha256();
    ByteBuffer buffer = ByteBuffer.allocate(HASH_BUFFER_BYTES);
    long size = 0;
    try (FileChannel channel = FileChannel.open(file, StandardOpenOption.READ)) {
      while (channel.read(buffer) >= 0) {
        buffer.flip();
        size += buffer.remaining();
        sha256.update(buffer);
        buffer.clear();
      }
      if (sync) {
        channel.force(true);
      }
    }
    return new FileEntry(relative, size, HexFormat.of().formatHex(sha256.digest()));
  }

  private static MessageDigest newSha256() {
    try {
      return MessageDigest.getInstance("SHA-256");
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("every Java runtime must provide SHA-256", e);
    }
  }

  private static String relativeName(Path directory, Path file) {
    List<String> parts = new ArrayList<>();
    for (Path part : directory.relativize(file)) {
      parts.add(part.toString());
    }
    return String.join("/", parts);
  }

  private static FileEntry fileEntry(Path source, int index, JsonElement element)
      throws CheckpointException {
    if (!element.isJsonObject()) {
      throw new CheckpointException(source + ": files[" + index + "] is not an object");
    }
    JsonObject object = element.getAsJsonObject();
    String path = stringField(object, "path");
    String sha256 = stringField(object, "sha256");
    if (path == null || !isSafeRelativePath(path)) {
      throw new CheckpointException(
          source + ": files[" + index + "] has path " + object.get("path")
              + ", which is not a relative path inside the checkpoint");
    }
    if (sha256 == null || !SHA256_HEX.matcher(sha256).matches()) {
      throw new CheckpointException(
          source + ": files[" + index + "] (" + path + ") has no 64-digit lowercase hex \"sha256\"");
    }
    long size = longField(source, object, "size");
    return new FileEntry(path, size, sha256);
  }

  private static String stringField(JsonObject object, String name) {
    JsonElement value = object.get(name);
    boolean isString = value != null && value.isJsonPrimitive() && value.getAsJsonPrimitive().isString();
    return isString ? value.getAsString() : null;
  }

  private static long longField(Path source, JsonObject object, String name) throws CheckpointException {
    JsonElement value = object.get(name);
    String text = value != null && value.isJsonPrimitive() && value.getAsJsonPrimitive().isNumber()
        ? value.getAsString()
        : "";
    if (!text.matches("0|[1-9][0-9]{0,17}")) {
      throw new CheckpointException(
          source + ": \"" + name + "\" must be a non-negative integer, found " + value);
    }
    return Long.parseLong(text);
  }
}
