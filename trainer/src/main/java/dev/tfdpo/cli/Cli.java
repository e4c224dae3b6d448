package dev.tfdpo.cli;

import dev.tfdpo.data.BadRowsException;
import dev.tfdpo.data.DataFormatException;
import dev.tfdpo.io.OutputDirLock;
import dev.tfdpo.io.checkpoint.CheckpointException;
import dev.tfdpo.io.checkpoint.CheckpointSaveException;
import dev.tfdpo.io.safetensors.SafeTensorsException;
import dev.tfdpo.trainer.config.ConfigException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import org.tensorflow.exceptions.TFResourceExhaustedException;

/**
 * The one error-handling wrapper of the entry points ({@code train}, {@code export}, {@code preprocess},
 * {@code compare}, {@code bench}, {@code plot}): a failure is one line {@code error: ...} on stderr,
 * never a Java stack trace, and the exit status says what kind of failure it was.
 *
 * <p>Exit status: {@link #OK} 0; {@link #RUNTIME} 1, the run failed while working (I/O, disk full,
 * TensorFlow, a non-finite step); {@link #INPUT} 2, the command cannot run as given (config, data,
 * arguments, a locked or foreign output directory, a resume that cannot be honoured); {@link
 * #INTERRUPTED} 130, stopped by Ctrl-C (143 for SIGTERM, as the JVM reports it). {@code --debug}
 * anywhere on the command line, or {@code TFDPO_DEBUG=1}, adds the stack trace.
 */
public final class Cli {

  public static final int OK = 0;
  public static final int RUNTIME = 1;
  public static final int INPUT = 2;
  public static final int INTERRUPTED = 130;

  /** The environment variable that turns on {@code --debug}. */
  public static final String DEBUG_ENV = "TFDPO_DEBUG";

  /** A tool's body: gets the arguments without {@code --debug}, returns its exit status. */
  @FunctionalInterface
  public interface Command {
    int run(String[] args) throws Exception;
  }

  private static final String NO_SPACE = "No space left on device";

  private Cli() {}

  /** Runs {@code command} and exits the JVM with its status. */
  public static void main(String tool, String[] args, Command command) {
    List<String> rest = new ArrayList<>(Arrays.asList(args));
    boolean debug = rest.remove("--debug") || "1".equals(System.getenv(DEBUG_ENV));
    AtomicBoolean finished = new AtomicBoolean();
    Thread interrupted = new Thread(() -> {
      if (!finished.get()) {
        System.err.println(tool + ": interrupted; output directories are unlocked (a training run resumes"
            + " with --resume_from_checkpoint auto)");
      }
    });
    Runtime.getRuntime().addShutdownHook(interrupted);
    int status = run(rest.toArray(String[]::new), command, debug, System.err);
    finished.set(true);
    System.out.flush();
    System.exit(status);
  }

  /** Runs {@code command}; returns its status, or the status of the failure it threw. */
  public static int run(String[] args, Command command, boolean debug, PrintStream err) {
    try {
      return command.run(args);
    } catch (Throwable t) {
      int status = status(t);
      err.println(status == INPUT ? "error: " + message(t) : describeRuntime(t));
      if (debug) {
        t.printStackTrace(err);
      } else if (status == RUNTIME && !(t instanceof java.io.IOException)) {
        err.println("(rerun with --debug, or " + DEBUG_ENV + "=1, for the stack trace)");
      }
      return status;
    }
  }

  /** {@link #INPUT} for what the user can fix in the command, {@link #RUNTIME} for everything else. */
  public static int status(Throwable t) {
    if (t instanceof ConfigException || t instanceof DataFormatException || t instanceof BadRowsException
        || t instanceof IllegalArgumentException
        || t instanceof OutputDirLock.DirectoryInUseException || t instanceof SafeTensorsException
        || (t instanceof CheckpointException && !(t instanceof CheckpointSaveException))) {
      return INPUT;
    }
    return RUNTIME;
  }

  private static String describeRuntime(Throwable t) {
    String m = String.valueOf(t.getMessage());
    if (m.contains(NO_SPACE)) {
      // TensorFlow names the file it was writing; so do the project's own atomic writes.
      return "error: no space left on the device: " + firstLine(m) + ". What was being written was a temporary"
          + " file, so earlier checkpoints and outputs are intact; free space, then rerun with"
          + " --resume_from_checkpoint auto";
    }
    if (t instanceof TFResourceExhaustedException) {
      // TensorFlow's own text suggests report_tensor_allocations, which is about GPU memory, not disks.
      return "error: TensorFlow ran out of a resource (memory, or space on the disk it was writing): "
          + firstLine(t.getMessage());
    }
    if (t instanceof UncheckedIOException u) {
      return "error: " + message(u.getCause());
    }
    if (t instanceof java.io.IOException
        || t instanceof org.tensorflow.exceptions.TensorFlowException || t instanceof IllegalStateException) {
      return "error: " + message(t);
    }
    return "internal error: " + t + " (this is a bug: please report it with the output of --debug)";
  }

  /** The exception's message, or its class where it has none (a bare NoSuchFileException names the file). */
  public static String message(Throwable t) {
    String m = t.getMessage();
    if (t instanceof java.nio.file.NoSuchFileException) {
      return "no such file: " + m;
    }
    if (t instanceof java.nio.file.FileAlreadyExistsException) {
      return "exists and is not a directory: " + m;
    }
    if (t instanceof java.nio.file.AccessDeniedException) {
      return "permission denied: " + m;
    }
    if (t instanceof java.nio.file.FileSystemException f && f.getReason() != null && f.getFile() != null) {
      return f.getReason() + " (" + f.getFile() + ")";
    }
    return m == null || m.isBlank() ? t.getClass().getSimpleName() : m;
  }

  private static String firstLine(String s) {
    if (s == null) {
      return "";
    }
    int nl = s.indexOf('\n');
    return nl < 0 ? s : s.substring(0, nl);
  }
}
