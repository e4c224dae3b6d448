package dev.tfdpo.io.checkpoint;

import dev.tfdpo.io.DurableFiles;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * Saves {@code output_dir/checkpoint-N/} so that a crash or a full disk at any moment leaves either the
 * previous state or the complete new checkpoint, never a half-written one that looks complete.
 *
 * <p>The steps: the caller's content goes into {@code output_dir/.tmp-checkpoint-N-<random>/}; the writer
 * adds {@code manifest.json} (size and SHA-256 of every file), fsyncs every file and directory, renames the
 * directory to {@code checkpoint-N}, and finally replaces the {@code latest} marker (temporary file plus
 * rename). Writing {@code latest} is the commit point: any failure before it is rolled back. Then the
 * oldest complete checkpoints beyond {@code save_total_limit} are deleted.
 *
 * <p>One writer per output directory at a time; a second process saving into the same directory is not
 * detected.
 */
public final class CheckpointWriter {

  /** Writes a checkpoint's files. */
  @FunctionalInterface
  public interface Content {
    /**
     * Writes the checkpoint's files into {@code directory} (empty, and renamed afterwards, so do not keep
     * its path). Subdirectories are allowed; {@code manifest.json} at the top is reserved.
     */
    void writeTo(Path directory) throws IOException;
  }

  /**
   * A completed save.
   *
   * @param directory the new {@code checkpoint-N} directory
   * @param manifest what was recorded in its manifest
   * @param pruned checkpoints deleted under {@code save_total_limit}
   * @param warnings non-fatal problems (a checkpoint that could not be deleted) for the trainer's log
   */
  public record SavedCheckpoint(Path directory, Manifest manifest, List<Path> pruned, List<String> warnings) {

    /** Freezes the lists. */
    public SavedCheckpoint {
      pruned = List.copyOf(pruned);
      warnings = List.copyOf(warnings);
    }

    /** The step saved. */
    public long step() {
      return manifest.step();
    }
  }

  private static final Pattern LATEST_TEMPORARY =
      Pattern.compile(Pattern.quote("." + Checkpoints.LATEST + ".") + "[0-9a-f]+\\.tmp");

  private final Path outputDir;
  private final int saveTotalLimit;

  /**
   * A writer for {@code outputDir} keeping at most {@code saveTotalLimit} complete checkpoints; 0 keeps
   * them all.
   */
  public CheckpointWriter(Path outputDir, int saveTotalLimit) {
    if (saveTotalLimit < 0) {
      throw new IllegalArgumentException(
          "save_total_limit must be 0 (keep all) or positive, got " + saveTotalLimit);
    }
    this.outputDir = outputDir;
    this.saveTotalLimit = saveTotalLimit;
  }

  /** The directory holding the checkpoints. */
  public Path outputDir() {
    return outputDir;
  }

  /**
   * Saves the checkpoint of {@code step}, replacing an existing {@code checkpoint-<step>}. On failure the
   * partial checkpoint is removed and a {@link CheckpointSaveException} says why (a full disk is named as
   * such) and which checkpoint remains; runtime exceptions from {@code content} are rethrown as they are,
   * after the same cleanup.
   *
   * <p>Replacing an existing {@code checkpoint-<step>} moves it aside to a {@code .tmp-} name for the
   * instant between the two renames; a crash exactly then leaves no {@code checkpoint-<step>}, and {@link
   * CheckpointLocator} falls back to the next older checkpoint.
   */
  public SavedCheckpoint save(long step, Content content) throws IOException {
    String name = Checkpoints.directoryName(step);
    createOutputDir();
    Path target = outputDir.resolve(name);
    Path previous = previousCheckpoint();
    Path temp = DurableFiles.createTempDirectory(outputDir, Checkpoints.TEMP_PREFIX + name + "-");
    Path replaced = null;
    boolean renamed = false;
    Manifest manifest;
    try {
      content.writeTo(temp);
      manifest = Manifest.describe(temp, step);
      byte[] manifestJson = manifest.toJson();
      DurableFiles.writeAtomically(
          temp.resolve(Checkpoints.MANIFEST), channel -> writeFully(channel, manifestJson));
      fsyncDirectories(temp);
      if (Files.exists(target)) {
        replaced = DurableFiles.unusedName(outputDir, Checkpoints.TEMP_PREFIX + "replaced-" + name + "-");
        DurableFiles.moveAtomically(target, replaced);
      }
      DurableFiles.moveAtomically(temp, target);
      renamed = true;
      DurableFiles.fsyncDirectory(outputDir);
      byte[] marker = (name + "\n").getBytes(StandardCharsets.UTF_8);
      Path latest = outputDir.resolve(Checkpoints.LATEST);
      DurableFiles.writeAtomically(latest, channel -> writeFully(channel, marker));
    } catch (IOException e) {
      List<String> cleanupProblems = rollBack(temp, target, renamed, replaced, e);
      throw saveFailure(step, name, previous, e, cleanupProblems);
    } catch (RuntimeException | Error e) {
      rollBack(temp, target, renamed, replaced, e);
      throw e;
    }
    List<String> warnings = new ArrayList<>();
    if (replaced != null) {
      deleteOrWarn(replaced, "the replaced copy of " + name, warnings);
    }
    List<Path> pruned = prune(target, warnings);
    return new SavedCheckpoint(target, manifest, pruned, warnings);
  }

  /**
   * Deletes temporaries left by saves that crashed ({@code .tmp-*} directories and {@code latest}
   * temporaries). Call it only when no save is running, e.g. at trainer start-up. Returns what was removed.
   */
  public List<Path> removeStaleTemporaries() throws IOException {
    List<Path> removed = new ArrayList<>();
    if (!Files.isDirectory(outputDir)) {
      return removed;
    }
    List<Path> stale = new ArrayList<>();
    try (DirectoryStream<Path> entries = Files.newDirectoryStream(outputDir)) {
      for (Path entry : entries) {
        String entryName = entry.getFileName().toString();
        boolean saveTemporary = entryName.startsWith(Checkpoints.TEMP_PREFIX) && Files.isDirectory(entry);
        boolean markerTemporary = LATEST_TEMPORARY.matcher(entryName).matches();
        if (saveTemporary || markerTemporary) {
          stale.add(entry);
        }
      }
    }
    for (Path entry : stale) {
      DurableFiles.deleteRecursively(entry);
      removed.add(entry);
    }
    return removed;
  }

  /**
   * Deletes the oldest complete checkpoints beyond the limit. Protected: the one just saved and the one
   * with the highest step (which differ after resuming from an older checkpoint). Incomplete checkpoints
   * are neither counted nor deleted, so a damaged directory stays for inspection.
   */
  private List<Path> prune(Path saved, List<String> warnings) throws IOException {
    List<Path> pruned = new ArrayList<>();
    if (saveTotalLimit == 0) {
      return pruned;
    }
    List<Path> complete = new ArrayList<>();
    for (Path checkpoint : Checkpoints.list(outputDir)) {
      if (checkpoint.equals(saved) || CheckpointVerifier.verifySizes(checkpoint).ok()) {
        complete.add(checkpoint);
      }
    }
    Set<Path> keep = new HashSet<>();
    keep.add(saved);
    if (!complete.isEmpty()) {
      keep.add(complete.get(complete.size() - 1));
    }
    // Newest first, so the limit is filled with the highest steps.
    for (int i = complete.size() - 1; i >= 0 && keep.size() < saveTotalLimit; i--) {
      keep.add(complete.get(i));
    }
    for (Path checkpoint : complete) {
      if (keep.contains(checkpoint)) {
        continue;
      }
      Path doomed;
      try {
        String prefix = Checkpoints.TEMP_PREFIX + "deleting-" + checkpoint.getFileName() + "-";
        doomed = DurableFiles.unusedName(outputDir, prefix);
        // Renamed first so a crash mid-delete leaves a .tmp- directory, never a partial checkpoint-N.
        DurableFiles.moveAtomically(checkpoint, doomed);
        pruned.add(checkpoint);
      } catch (IOException e) {
        warnings.add(
            "could not remove " + checkpoint + " under save_total_limit " + saveTotalLimit + ": " + e);
        continue;
      }
      deleteOrWarn(doomed, "pruned " + checkpoint.getFileName(), warnings);
    }
    if (!pruned.isEmpty()) {
      DurableFiles.fsyncDirectory(outputDir);
    }
    return pruned;
  }

  /** The checkpoint a failed save leaves as current: the one {@code latest} names, else the newest. */
  private Path previousCheckpoint() throws IOException {
    Optional<String> latest = Checkpoints.readLatest(outputDir);
    Optional<Path> named = latest.flatMap(name -> Checkpoints.checkpointNamed(outputDir, name));
    if (named.isPresent()) {
      return named.get();
    }
    List<Path> existing = Checkpoints.list(outputDir);
    return existing.isEmpty() ? null : existing.get(existing.size() - 1);
  }

  /**
   * Undoes a save that failed before {@code latest} was written: the new directory goes (renamed out of
   * the way first if it had already been published) and a replaced checkpoint comes back. Returns what
   * could not be cleaned up, also attached to {@code failure} as suppressed exceptions.
   */
  private List<String> rollBack(Path temp, Path target, boolean renamed, Path replaced, Throwable failure) {
    List<String> problems = new ArrayList<>();
    try {
      if (renamed) {
        DurableFiles.moveAtomically(target, temp);
      }
      DurableFiles.deleteRecursively(temp);
    } catch (IOException cleanup) {
      failure.addSuppressed(cleanup);
      problems.add(
          "the partial directory " + temp + " could not be removed (" + cleanup + "); delete it by hand");
    }
    if (replaced != null) {
      try {
        DurableFiles.moveAtomically(replaced, target);
      } catch (IOException restore) {
        failure.addSuppressed(restore);
        problems.add(
            "the earlier " + target.getFileName() + " is in " + replaced + " and could not be moved back ("
                + restore + "); rename it to " + target.getFileName() + " by hand");
      }
    }
    return problems;
  }

  private CheckpointSaveException saveFailure(
      long step, String name, Path previous, IOException cause, List<String> cleanupProblems) {
    boolean diskFull = isDiskFull(cause);
    StringBuilder message = new StringBuilder();
    message.append("saving ").append(name).append(" in ").append(outputDir).append(" failed: ");
    if (diskFull) {
      message.append("the disk is full (").append(cause.getMessage()).append(")");
    } else {
      message.append(cause);
    }
    message.append(". ");
    if (previous != null) {
      message.append("The previous checkpoint ").append(previous.getFileName())
          .append(" is kept and '").append(Checkpoints.LATEST).append("' is unchanged");
    } else {
      message.append("No earlier checkpoint exists in ").append(outputDir);
    }
    if (diskFull) {
      message.append("; free disk space or lower save_total_limit before resuming");
    }
    message.append(".");
    for (String problem : cleanupProblems) {
      message.append(" Also, ").append(problem).append(".");
    }
    return new CheckpointSaveException(message.toString(), cause, step, diskFull, previous);
  }

  /** True when the error, or one it wraps or carries, is ENOSPC or EDQUOT. */
  static boolean isDiskFull(Throwable error) {
    List<Throwable> pending = new ArrayList<>(List.of(error));
    Set<Throwable> seen = new HashSet<>();
    while (!pending.isEmpty()) {
      Throwable current = pending.remove(pending.size() - 1);
      if (!seen.add(current)) {
        continue;
      }
      String message = String.valueOf(current.getMessage());
      if (message.contains("No space left on device") || message.contains("Disk quota exceeded")) {
        return true;
      }
      if (current.getCause() != null) {
        pending.add(current.getCause());
      }
      pending.addAll(List.of(current.getSuppressed()));
    }
    return false;
  }

  /** Creates the output directory durably: a new directory's own entry lives in its parent. */
  private void createOutputDir() throws IOException {
    if (Files.isDirectory(outputDir)) {
      return;
    }
    Files.createDirectories(outputDir);
    DurableFiles.fsyncDirectory(DurableFiles.parentOf(outputDir));
  }

  private static void fsyncDirectories(Path root) throws IOException {
    List<Path> directories;
    try (Stream<Path> walk = Files.walk(root)) {
      directories = walk.filter(Files::isDirectory).sorted(Comparator.reverseOrder()).toList();
    }
    // Deepest first, so each directory's entry is durable before its parent's.
    for (Path directory : directories) {
      DurableFiles.fsyncDirectory(directory);
    }
  }

  private static void deleteOrWarn(Path path, String what, List<String> warnings) {
    try {
      DurableFiles.deleteRecursively(path);
    } catch (IOException e) {
      warnings.add("could not delete " + what + " at " + path + ": " + e + "; delete it by hand");
    }
  }

  private static void writeFully(FileChannel channel, byte[] bytes) throws IOException {
    ByteBuffer buffer = ByteBuffer.wrap(bytes);
    while (buffer.hasRemaining()) {
      channel.write(buffer);
    }
  }
}
