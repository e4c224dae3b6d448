package dev.tfdpo.io;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.concurrent.ThreadLocalRandom;

/**
 * File-system steps for writes that must survive a crash or a power cut: fsync of files and directories,
 * write-to-a-temporary-then-rename, and recursive deletion.
 *
 * <p>Temporaries are created with the process's default permissions (unlike {@link
 * Files#createTempFile}, which makes them owner-only), because they become the final files once renamed.
 */
public final class DurableFiles {

  /** Fills a file through its channel. */
  @FunctionalInterface
  public interface ChannelWriter {
    /** Writes the whole content to {@code channel}, which is positioned at 0 on an empty file. */
    void write(FileChannel channel) throws IOException;
  }

  private static final int NAME_ATTEMPTS = 16;

  private DurableFiles() {}

  /**
   * Writes {@code target} atomically: the content goes to a hidden temporary in the same directory, is
   * fsynced, then renamed over {@code target}, and the directory is fsynced so the rename itself is durable.
   * When anything fails the temporary is removed and an existing {@code target} is left as it was.
   */
  public static void writeAtomically(Path target, ChannelWriter body) throws IOException {
    Path dir = parentOf(target);
    Path temp = createTempFile(dir, "." + target.getFileName() + ".", ".tmp");
    boolean renamed = false;
    try {
      try (FileChannel channel = FileChannel.open(temp, StandardOpenOption.WRITE)) {
        body.write(channel);
        channel.force(true);
      }
      moveAtomically(temp, target);
      renamed = true;
      fsyncDirectory(dir);
    } catch (IOException e) {
      if (!renamed) {
        deleteQuietly(temp, e);
      }
      // A bare IOException (a full disk is one) does not say which file; the user needs to know.
      throw e.getClass() == IOException.class ? new IOException("writing " + target + ": " + e.getMessage(), e) : e;
    } catch (RuntimeException | Error e) {
      if (!renamed) {
        deleteQuietly(temp, e);
      }
      throw e;
    }
  }

  /**
   * Renames {@code source} to {@code target} in one step, replacing a file {@code target}. Both must be on
   * the same file system; a non-atomic fallback would reopen the window this class exists to close, so a
   * file system without atomic rename is an error.
   */
  public static void moveAtomically(Path source, Path target) throws IOException {
    try {
      Files.move(source, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    } catch (AtomicMoveNotSupportedException e) {
      throw new IOException(
          "cannot rename " + source + " to " + target + " atomically; keep output on a local file system", e);
    }
  }

  /** Flushes a file's content and metadata to the device. */
  public static void fsyncFile(Path file) throws IOException {
    try (FileChannel channel = FileChannel.open(file, StandardOpenOption.READ)) {
      channel.force(true);
    }
  }

  /**
   * Flushes a directory's entries to the device, which is what makes a create or rename inside it durable
   * (on Linux a read-only descriptor of the directory is enough for fsync).
   */
  public static void fsyncDirectory(Path dir) throws IOException {
    try (FileChannel channel = FileChannel.open(dir, StandardOpenOption.READ)) {
      channel.force(true);
    }
  }

  /** Creates a new empty file {@code prefix + random + suffix} in {@code dir}. */
  public static Path createTempFile(Path dir, String prefix, String suffix) throws IOException {
    FileAlreadyExistsException last = null;
    for (int attempt = 0; attempt < NAME_ATTEMPTS; attempt++) {
      Path candidate = dir.resolve(prefix + randomToken() + suffix);
      try {
        return Files.createFile(candidate);
      } catch (FileAlreadyExistsException e) {
        last = e;
      }
    }
    throw new IOException("could not find a free temporary file name in " + dir, last);
  }

  /** Creates a new empty directory {@code prefix + random} in {@code dir}. */
  public static Path createTempDirectory(Path dir, String prefix) throws IOException {
    FileAlreadyExistsException last = null;
    for (int attempt = 0; attempt < NAME_ATTEMPTS; attempt++) {
      Path candidate = dir.resolve(prefix + randomToken());
      try {
        return Files.createDirectory(candidate);
      } catch (FileAlreadyExistsException e) {
        last = e;
      }
    }
    throw new IOException("could not find a free temporary directory name in " + dir, last);
  }

  /**
   * A name {@code prefix + random} that does not exist in {@code dir} now; for renames that must not
   * collide with leftovers of earlier crashes (nothing reserves it, so one writer per directory).
   */
  public static Path unusedName(Path dir, String prefix) throws IOException {
    for (int attempt = 0; attempt < NAME_ATTEMPTS; attempt++) {
      Path candidate = dir.resolve(prefix + randomToken());
      if (!Files.exists(candidate, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
        return candidate;
      }
    }
    throw new IOException("could not find an unused name starting with " + prefix + " in " + dir);
  }

  /** Deletes {@code path} and everything under it; symbolic links are removed, not followed. */
  public static void deleteRecursively(Path path) throws IOException {
    if (!Files.exists(path, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
      return;
    }
    Files.walkFileTree(
        path,
        new SimpleFileVisitor<>() {
          @Override
          public FileVisitResult visitFile(Path file, BasicFileAttributes attrs) throws IOException {
            Files.delete(file);
            return FileVisitResult.CONTINUE;
          }

          @Override
          public FileVisitResult postVisitDirectory(Path dir, IOException failure) throws IOException {
            if (failure != null) {
              throw failure;
            }
            Files.delete(dir);
            return FileVisitResult.CONTINUE;
          }
        });
  }

  /** The directory holding {@code file}, resolving a bare file name against the working directory. */
  public static Path parentOf(Path file) {
    Path parent = file.toAbsolutePath().getParent();
    if (parent == null) {
      throw new IllegalArgumentException(file + " has no parent directory");
    }
    return parent;
  }

  private static void deleteQuietly(Path path, Throwable primary) {
    // The primary failure is what the user must see; a failed cleanup rides along as suppressed.
    try {
      deleteRecursively(path);
    } catch (IOException cleanup) {
      primary.addSuppressed(cleanup);
    }
  }

  private static String randomToken() {
    return Long.toHexString(ThreadLocalRandom.current().nextLong() & Long.MAX_VALUE);
  }
}
