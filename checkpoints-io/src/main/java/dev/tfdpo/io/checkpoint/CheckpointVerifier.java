package dev.tfdpo.io.checkpoint;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.stream.Collectors;

/**
 * Checks a checkpoint directory against its {@code manifest.json}. Problems are collected, not thrown, so
 * a caller can report all of them and move on to an older checkpoint; files not in the manifest are
 * ignored (they were added after the save and are not read on resume).
 */
public final class CheckpointVerifier {

  private CheckpointVerifier() {}

  /**
   * One thing wrong with a checkpoint.
   *
   * @param file the path relative to the checkpoint ({@code "."} for the directory itself)
   * @param reason what is wrong with it
   */
  public record Problem(String file, String reason) {
    @Override
    public String toString() {
      return file + ": " + reason;
    }
  }

  /**
   * The outcome of a verification.
   *
   * @param directory the checkpoint directory
   * @param manifest the parsed manifest, when it could be read
   * @param problems what is wrong, empty for a good checkpoint
   * @param checksums true when file contents were hashed, false for a size-only check
   */
  public record Verification(
      Path directory, Optional<Manifest> manifest, List<Problem> problems, boolean checksums) {

    /** Freezes the problem list. */
    public Verification {
      problems = List.copyOf(problems);
    }

    /** True when nothing is wrong. */
    public boolean ok() {
      return problems.isEmpty();
    }

    /** The step recorded in the manifest, if it could be read. */
    public OptionalLong step() {
      return manifest.map(m -> OptionalLong.of(m.step())).orElse(OptionalLong.empty());
    }

    /** "verified" or the problems joined with "; ". */
    public String describe() {
      if (ok()) {
        return checksums ? "verified (sizes and SHA-256)" : "verified (sizes only)";
      }
      return problems.stream().map(Problem::toString).collect(Collectors.joining("; "));
    }
  }

  /** Full check: every listed file exists with the listed size and SHA-256. Reads every byte. */
  public static Verification verify(Path checkpointDir) {
    return check(checkpointDir, true);
  }

  /**
   * Quick check: the manifest reads and every listed file exists with the listed size. Catches missing
   * and truncated files without reading them; used to decide which checkpoints are complete when pruning.
   */
  public static Verification verifySizes(Path checkpointDir) {
    return check(checkpointDir, false);
  }

  private static Verification check(Path dir, boolean checksums) {
    List<Problem> problems = new ArrayList<>();
    if (!Files.isDirectory(dir)) {
      problems.add(new Problem(".", "not a directory, or does not exist"));
      return new Verification(dir, Optional.empty(), problems, checksums);
    }
    Manifest manifest;
    try {
      manifest = Manifest.read(dir);
    } catch (NoSuchFileException e) {
      problems.add(
          new Problem(Checkpoints.MANIFEST, "missing: the save did not finish, or the file was deleted"));
      return new Verification(dir, Optional.empty(), problems, checksums);
    } catch (IOException e) {
      problems.add(new Problem(Checkpoints.MANIFEST, "unreadable: " + e.getMessage()));
      return new Verification(dir, Optional.empty(), problems, checksums);
    }
    OptionalLong namedStep = Checkpoints.stepOf(dir);
    if (namedStep.isPresent() && namedStep.getAsLong() != manifest.step()) {
      problems.add(
          new Problem(
              Checkpoints.MANIFEST,
              "records step " + manifest.step() + ", but the directory is named for step "
                  + namedStep.getAsLong()));
    }
    for (Manifest.FileEntry entry : manifest.files()) {
      checkFile(dir, entry, checksums).ifPresent(problems::add);
    }
    return new Verification(dir, Optional.of(manifest), problems, checksums);
  }

  private static Optional<Problem> checkFile(Path dir, Manifest.FileEntry entry, boolean checksums) {
    Path file = dir.resolve(entry.path());
    if (!Files.exists(file, LinkOption.NOFOLLOW_LINKS)) {
      return Optional.of(new Problem(entry.path(), "missing"));
    }
    if (!Files.isRegularFile(file, LinkOption.NOFOLLOW_LINKS)) {
      return Optional.of(new Problem(entry.path(), "not a regular file"));
    }
    try {
      long size = Files.size(file);
      if (size < entry.size()) {
        return Optional.of(
            new Problem(entry.path(), "truncated: " + size + " of " + entry.size() + " bytes"));
      }
      if (size > entry.size()) {
        return Optional.of(
            new Problem(entry.path(), "has " + size + " bytes, the manifest says " + entry.size()));
      }
      if (!checksums) {
        return Optional.empty();
      }
      Manifest.FileEntry actual = Manifest.hash(file, entry.path());
      if (actual.size() != entry.size()) {
        return Optional.of(
            new Problem(entry.path(), "changed while being read: " + actual.size() + " bytes read"));
      }
      if (!actual.sha256().equals(entry.sha256())) {
        return Optional.of(
            new Problem(
                entry.path(),
                "checksum mismatch: SHA-256 is " + actual.sha256() + ", the manifest says " + entry.sha256()
                    + "; the file is corrupt"));
      }
      return Optional.empty();
    } catch (IOException e) {
      return Optional.of(new Problem(entry.path(), "unreadable: " + e));
    }
  }
}
