package dev.tfdpo.io;

import java.io.IOException;
import java.net.InetAddress;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;
import java.util.function.Consumer;
import java.util.stream.Stream;

/**
 * One owner per output directory: an exclusive {@link FileLock} on {@code DIR/.tfdpo.lock}, held from
 * before the first write until the tool ends. The operating system drops the lock when the process
 * dies, however it dies (SIGKILL included), so a lock left behind never blocks a later run.
 *
 * <p>The file records who holds it ({@code pid}, {@code host}, {@code tool}, {@code since}) so that a
 * refused second writer can name the holder. A file that still names a holder but is not locked is the
 * trace of a process that died while holding it: it is reclaimed with a message naming that process.
 * Where the file system cannot lock (some network mounts), the recorded PID decides on the same host.
 */
public final class OutputDirLock implements AutoCloseable {

  /** The lock file's name inside the directory. */
  public static final String FILE = ".tfdpo.lock";

  private final Path dir;
  private final Path file;
  private final FileChannel channel;
  private final FileLock lock;
  private final boolean createdDir;

  private OutputDirLock(Path dir, Path file, FileChannel channel, FileLock lock, boolean createdDir) {
    this.dir = dir;
    this.file = file;
    this.channel = channel;
    this.lock = lock;
    this.createdDir = createdDir;
  }

  /**
   * Takes the lock of {@code dir} (creating the directory if needed) for {@code tool}, or throws
   * {@link DirectoryInUseException} naming the live holder. A stale record is reported on {@code notes}.
   */
  public static OutputDirLock acquire(Path dir, String tool, Consumer<String> notes) throws IOException {
    Path d = dir.toAbsolutePath().normalize();
    boolean created = !Files.isDirectory(d);
    Files.createDirectories(d);
    Path file = d.resolve(FILE);
    // A holder deletes the file when it ends; one who locked the file just before that delete holds a lock
    // on a file that is no longer the directory's. So the file at the path must be the same (device and
    // inode, by stat) before opening and after locking, or this starts over. Never open the file a second
    // time here: closing any descriptor of a file drops the process's POSIX locks on it.
    for (int attempt = 0; ; attempt++) {
      Optional<Object> before = createAndIdentify(file);
      FileChannel channel;
      try {
        channel = FileChannel.open(file, StandardOpenOption.READ, StandardOpenOption.WRITE);
      } catch (NoSuchFileException deletedMeanwhile) {
        continue;
      }
      try {
        Map<String, String> previous = read(channel);
        FileLock lock = tryLock(channel, d, previous);
        if (!before.equals(identify(file)) && attempt < 3) {
          if (lock != null) {
            lock.release();
          }
          channel.close();
          continue;
        }
        write(channel, tool);
        if (!previous.isEmpty()) {
          notes.accept("reclaimed the lock of " + d + " left by " + describe(previous)
              + ", which is no longer running");
        }
        return new OutputDirLock(d, file, channel, lock, created);
      } catch (IOException | RuntimeException e) {
        channel.close();
        throw e;
      }
    }
  }

  /** Creates {@code file} if missing; its identity (device and inode), empty where none is known. */
  private static Optional<Object> createAndIdentify(Path file) throws IOException {
    try {
      Files.createFile(file);
    } catch (FileAlreadyExistsException exists) {
      // the usual case: a holder's file, or one left by a killed holder
    }
    return identify(file);
  }

  /** The file's identity by stat (no descriptor opened); empty if it is gone or the system has none. */
  private static Optional<Object> identify(Path file) {
    try {
      return Optional.ofNullable(Files.readAttributes(file, BasicFileAttributes.class).fileKey());
    } catch (IOException gone) {
      return Optional.empty();
    }
  }

  /** The lock, or the refusal naming the live holder. */
  private static FileLock tryLock(FileChannel channel, Path dir, Map<String, String> holder) throws IOException {
    FileLock lock;
    try {
      lock = channel.tryLock();
    } catch (OverlappingFileLockException sameProcess) {
      lock = null; // this JVM holds it already (two tools started in one process)
    } catch (IOException unsupported) {
      // No locking on this file system: fall back on the recorded PID, which only this host can check.
      if (holder.isEmpty() || !sameHost(holder) || !alive(holder)) {
        return null;
      }
      throw new DirectoryInUseException(dir, describe(holder));
    }
    if (lock == null) {
      throw new DirectoryInUseException(dir, holder.isEmpty() ? "another process" : describe(holder));
    }
    return lock;
  }

  /** The directory this lock owns. */
  public Path directory() {
    return dir;
  }

  /**
   * Releases the lock and deletes its file (while still holding it), so a finished tool leaves nothing
   * behind; a process that locked the file just before the delete sees it gone and starts over ({@link
   * #acquire}). A directory this lock created that holds nothing else is removed too, so a refused or
   * failed start leaves no trace. A process killed before this leaves the file with its record, which
   * the next run reclaims.
   */
  @Override
  public void close() throws IOException {
    try {
      Files.deleteIfExists(file);
      if (lock != null) {
        lock.release();
      }
    } finally {
      channel.close();
    }
    if (createdDir) {
      try (Stream<Path> entries = Files.list(dir)) {
        if (entries.findAny().isEmpty()) {
          Files.deleteIfExists(dir);
        }
      } catch (IOException ignored) {
        // Best effort: a leftover empty directory is harmless.
      }
    }
  }

  private static Map<String, String> read(FileChannel channel) throws IOException {
    ByteBuffer buffer = ByteBuffer.allocate((int) Math.min(channel.size(), 4096));
    channel.read(buffer, 0);
    Map<String, String> out = new LinkedHashMap<>();
    for (String line : new String(buffer.array(), 0, buffer.position(), StandardCharsets.UTF_8).split("\n")) {
      int eq = line.indexOf('=');
      if (eq > 0) {
        out.put(line.substring(0, eq), line.substring(eq + 1));
      }
    }
    return out;
  }

  private static void write(FileChannel channel, String tool) throws IOException {
    String record = "pid=" + ProcessHandle.current().pid() + "\nhost=" + hostName() + "\ntool=" + tool
        + "\nsince=" + Instant.now() + "\n";
    channel.truncate(0);
    channel.write(ByteBuffer.wrap(record.getBytes(StandardCharsets.UTF_8)), 0);
    channel.force(true);
  }

  /** "train (PID 123 on host h, since ...)". */
  static String describe(Map<String, String> holder) {
    return holder.getOrDefault("tool", "a tfdpo tool") + " (PID " + holder.getOrDefault("pid", "?")
        + " on host " + holder.getOrDefault("host", "?") + ", since " + holder.getOrDefault("since", "?") + ")";
  }

  private static boolean sameHost(Map<String, String> holder) {
    return hostName().equals(holder.get("host"));
  }

  private static boolean alive(Map<String, String> holder) {
    try {
      return ProcessHandle.of(Long.parseLong(holder.getOrDefault("pid", ""))).map(ProcessHandle::isAlive)
          .orElse(false);
    } catch (NumberFormatException e) {
      return false;
    }
  }

  /** The host name without a DNS lookup where the environment or /etc/hostname has it. */
  static String hostName() {
    String env = System.getenv("HOSTNAME");
    if (env != null && !env.isBlank()) {
      return env.trim();
    }
    try {
      return Files.readString(Path.of("/etc/hostname")).trim();
    } catch (IOException | RuntimeException e) {
      try {
        return InetAddress.getLocalHost().getHostName();
      } catch (IOException unknown) {
        return "unknown";
      }
    }
  }

  /** A second writer refused: the directory is locked by a live process. */
  public static final class DirectoryInUseException extends IOException {
    private static final long serialVersionUID = 1L;

    DirectoryInUseException(Path dir, String holder) {
      super(dir + " is in use by " + holder + "; one tool at a time writes a directory: wait for it to end,"
          + " stop it, or choose another directory");
    }
  }
}
