package dev.tfdpo.io.checkpoint;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** Names and listings shared by the writer, verifier and locator. */
public final class Checkpoints {

  /** Prefix of a checkpoint directory's name; the step follows in decimal. */
  public static final String PREFIX = "checkpoint-";

  /** The file in each checkpoint listing its other files. */
  public static final String MANIFEST = "manifest.json";

  /** The marker file in the output directory naming the newest complete checkpoint. */
  public static final String LATEST = "latest";

  /**
   * Prefix of every temporary directory the writer makes in the output directory; such directories are
   * never checkpoints and are safe to delete when no save is running.
   */
  public static final String TEMP_PREFIX = ".tmp-";

  private static final Pattern NAME = Pattern.compile(Pattern.quote(PREFIX) + "(0|[1-9][0-9]{0,17})");

  private Checkpoints() {}

  /** {@code checkpoint-<step>}. */
  public static String directoryName(long step) {
    if (step < 0) {
      throw new IllegalArgumentException("a checkpoint step cannot be negative, got " + step);
    }
    return PREFIX + step;
  }

  /** The step of a directory named {@code checkpoint-<step>}, empty for any other name. */
  public static OptionalLong stepOf(Path directory) {
    Path fileName = directory.getFileName();
    Matcher matcher = NAME.matcher(fileName == null ? "" : fileName.toString());
    return matcher.matches() ? OptionalLong.of(Long.parseLong(matcher.group(1))) : OptionalLong.empty();
  }

  /** The {@code checkpoint-<step>} directories in {@code outputDir}, by step; none if it does not exist. */
  public static List<Path> list(Path outputDir) throws IOException {
    List<Path> found = new ArrayList<>();
    if (!Files.isDirectory(outputDir)) {
      return found;
    }
    try (DirectoryStream<Path> entries = Files.newDirectoryStream(outputDir)) {
      for (Path entry : entries) {
        if (stepOf(entry).isPresent() && Files.isDirectory(entry)) {
          found.add(entry);
        }
      }
    }
    found.sort(Comparator.comparingLong(dir -> stepOf(dir).getAsLong()));
    return found;
  }

  /**
   * The directory {@code name} (as read from {@code latest}) denotes, if it is an existing {@code
   * checkpoint-N} directory directly inside {@code outputDir}; a marker pointing elsewhere is not trusted.
   */
  public static Optional<Path> checkpointNamed(Path outputDir, String name) {
    Path named = outputDir.resolve(name).normalize();
    boolean inOutputDir = outputDir.normalize().equals(named.getParent());
    if (inOutputDir && stepOf(named).isPresent() && Files.isDirectory(named)) {
      return Optional.of(named);
    }
    return Optional.empty();
  }

  /** The directory name written in {@code outputDir/latest}, if the marker exists. */
  public static Optional<String> readLatest(Path outputDir) throws IOException {
    Path marker = outputDir.resolve(LATEST);
    if (!Files.isRegularFile(marker)) {
      return Optional.empty();
    }
    return Optional.of(Files.readString(marker, StandardCharsets.UTF_8).strip());
  }
}
