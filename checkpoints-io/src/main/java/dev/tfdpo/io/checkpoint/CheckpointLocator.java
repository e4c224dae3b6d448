package dev.tfdpo.io.checkpoint;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.Set;

/**
 * Picks the checkpoint to resume from. Every candidate is fully verified (sizes and SHA-256), so resuming
 * reads every checkpoint byte once more; that is the price of never resuming from a corrupt file.
 */
public final class CheckpointLocator {

  /** The spec that means: the newest checkpoint in the output directory that verifies. */
  public static final String AUTO = "auto";

  private CheckpointLocator() {}

  /**
   * A checkpoint that was considered and passed over.
   *
   * @param directory the checkpoint directory, or the {@code latest} marker when that is what was wrong
   * @param reason why it was skipped
   */
  public record Skipped(Path directory, String reason) {
    @Override
    public String toString() {
      return directory.getFileName() + ": " + reason;
    }
  }

  /**
   * The result of {@link #resolve}.
   *
   * @param checkpoint the checkpoint to resume from, empty when there is none
   * @param step its step, from its manifest
   * @param skipped candidates passed over, newest first, for the trainer's log
   * @param reason how the checkpoint was chosen, or why there is none
   */
  public record Resolution(
      Optional<Path> checkpoint, OptionalLong step, List<Skipped> skipped, String reason) {

    /** Freezes the skipped list. */
    public Resolution {
      skipped = List.copyOf(skipped);
    }

    /** True when a checkpoint was found. */
    public boolean found() {
      return checkpoint.isPresent();
    }
  }

  /**
   * Resolves {@code spec}: {@value #AUTO}, or a path to a checkpoint directory (a relative path that does
   * not exist from the working directory is also tried inside {@code outputDir}, so {@code checkpoint-200}
   * works). An explicit checkpoint that is missing or fails verification is an error; {@value #AUTO} never
   * is, it returns an empty resolution with the reason instead.
   */
  public static Resolution resolve(Path outputDir, String spec) throws IOException {
    if (spec == null || spec.isBlank()) {
      throw new IllegalArgumentException(
          "a resume spec must be '" + AUTO + "' or a checkpoint directory, got '" + spec + "'");
    }
    if (spec.equals(AUTO)) {
      return auto(outputDir);
    }
    return explicit(outputDir, spec);
  }

  private static Resolution explicit(Path outputDir, String spec) throws CheckpointException {
    Path candidate = Path.of(spec);
    if (!candidate.isAbsolute() && !Files.exists(candidate) && outputDir != null) {
      candidate = outputDir.resolve(spec);
    }
    if (Files.exists(candidate) && !Files.isDirectory(candidate)) {
      Path parent = candidate.toAbsolutePath().getParent();
      throw new CheckpointException("cannot resume from " + candidate + ": it is a file, not a checkpoint directory;"
          + " pass the checkpoint-N directory" + (parent != null && Checkpoints.stepOf(parent).isPresent()
              ? " that holds it (" + parent + ")" : "") + " or '" + AUTO + "'");
    }
    if (!Files.isDirectory(candidate)) {
      throw new CheckpointException(
          "cannot resume from " + spec + ": no such directory (also looked in " + outputDir
              + "); pass a checkpoint-N directory or '" + AUTO + "'");
    }
    CheckpointVerifier.Verification verification = CheckpointVerifier.verify(candidate);
    if (!verification.ok()) {
      throw new CheckpointException(
          "cannot resume from " + candidate + ": it fails verification: " + verification.describe()
              + ". Pass an intact checkpoint, or '" + AUTO + "' to take the newest one that verifies");
    }
    String how = "given explicitly, " + verification.describe();
    return new Resolution(Optional.of(candidate), verification.step(), List.of(), how);
  }

  private static Resolution auto(Path outputDir) throws IOException {
    List<Skipped> skipped = new ArrayList<>();
    if (!Files.isDirectory(outputDir)) {
      String why = "output directory " + outputDir + " does not exist, so there is nothing to resume";
      return none(skipped, why);
    }
    Set<Path> tried = new HashSet<>();
    Optional<String> latest = Checkpoints.readLatest(outputDir);
    if (latest.isPresent()) {
      Optional<Path> named = Checkpoints.checkpointNamed(outputDir, latest.get());
      if (named.isEmpty()) {
        skipped.add(
            new Skipped(
                outputDir.resolve(Checkpoints.LATEST),
                "names '" + latest.get() + "', which is not a checkpoint-N directory in " + outputDir));
      } else {
        tried.add(named.get());
        CheckpointVerifier.Verification verification = CheckpointVerifier.verify(named.get());
        if (verification.ok()) {
          String how = "named by '" + Checkpoints.LATEST + "', " + verification.describe();
          return new Resolution(named, verification.step(), skipped, how);
        }
        String why = "named by '" + Checkpoints.LATEST + "' but " + verification.describe();
        skipped.add(new Skipped(named.get(), why));
      }
    }
    List<Path> checkpoints = Checkpoints.list(outputDir);
    for (int i = checkpoints.size() - 1; i >= 0; i--) {
      Path candidate = checkpoints.get(i).normalize();
      if (!tried.add(candidate)) {
        continue;
      }
      CheckpointVerifier.Verification verification = CheckpointVerifier.verify(candidate);
      if (verification.ok()) {
        String how =
            latest.isPresent()
                ? "newest checkpoint that verifies, after the one '" + Checkpoints.LATEST + "' named failed"
                : "newest checkpoint that verifies (no '" + Checkpoints.LATEST + "' marker)";
        return new Resolution(Optional.of(candidate), verification.step(), skipped, how);
      }
      skipped.add(new Skipped(candidate, verification.describe()));
    }
    if (tried.isEmpty()) {
      return none(skipped, "no checkpoint-N directories in " + outputDir);
    }
    String why =
        tried.size() == 1
            ? "the only checkpoint in " + outputDir + " fails verification"
            : "none of the " + tried.size() + " checkpoints in " + outputDir + " verifies";
    return none(skipped, why);
  }

  private static Resolution none(List<Skipped> skipped, String reason) {
    return new Resolution(Optional.empty(), OptionalLong.empty(), skipped, reason);
  }
}
