package dev.tfdpo.report;

import java.io.BufferedOutputStream;
import java.io.Closeable;
import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Map;
import org.tensorflow.proto.Event;
import org.tensorflow.proto.Summary;

/**
 * Writes scalars to a TensorBoard event file {@code events.out.tfevents.<secs>.<host>} in the given
 * directory (the trainer passes {@code output_dir/runs/}). The file is TFRecord-framed {@code Event}
 * protos, the first carrying {@code file_version: "brain.Event:2"}, each scalar a {@code Summary.Value}
 * with {@code simple_value}; TensorBoard reads it while it grows. Methods are thread-safe.
 *
 * <p>Events are buffered: call {@link #flush()} after each logging step so a watching TensorBoard sees
 * them, and {@link #close()} at the end.
 */
public final class TensorBoardWriter implements Closeable {

  private final Path file;
  private final OutputStream out;
  private boolean closed;

  /**
   * Creates {@code runsDir} if needed and starts a new event file in it.
   *
   * @throws IOException when the directory or file cannot be created
   */
  public TensorBoardWriter(Path runsDir) throws IOException {
    Files.createDirectories(runsDir);
    this.file = createUniqueFile(runsDir);
    this.out = new BufferedOutputStream(Files.newOutputStream(file, StandardOpenOption.APPEND));
    Event header = Event.newBuilder()
        .setWallTime(nowSeconds())
        .setFileVersion("brain.Event:2")
        .build();
    TfRecord.write(out, header.toByteArray());
    out.flush();
  }

  /** The event file being written. */
  public Path file() {
    return file;
  }

  /**
   * Appends one scalar. TensorBoard stores scalars as float32, so {@code value} is rounded to float.
   *
   * @param tag TensorBoard tag, e.g. {@code train/loss}
   * @param step global (optimizer) step
   */
  public synchronized void scalar(String tag, long step, double value) throws IOException {
    ensureOpen();
    Summary summary = Summary.newBuilder()
        .addValue(Summary.Value.newBuilder().setTag(tag).setSimpleValue((float) value))
        .build();
    writeEvent(step, summary);
  }

  /**
   * Appends every metric of one {@code metrics.jsonl} line as one event, tags from
   * {@link MetricNames#tensorBoardTag}: {@code eval_loss} → {@code eval/loss}, {@code loss} →
   * {@code train/loss}. The key {@code step} and values that are not {@link Number}s (nulls, strings,
   * nested objects) are skipped, so the map written to {@code metrics.jsonl} can be passed as is.
   */
  public synchronized void metrics(long step, Map<String, ?> metrics) throws IOException {
    ensureOpen();
    Summary.Builder summary = Summary.newBuilder();
    for (Map.Entry<String, ?> metric : metrics.entrySet()) {
      if (metric.getKey().equals("step") || !(metric.getValue() instanceof Number)) {
        continue;
      }
      String tag = MetricNames.tensorBoardTag(metric.getKey());
      summary.addValue(Summary.Value.newBuilder()
          .setTag(tag)
          .setSimpleValue(((Number) metric.getValue()).floatValue()));
    }
    if (summary.getValueCount() > 0) {
      writeEvent(step, summary.build());
    }
  }

  /** Pushes buffered events to the file so TensorBoard sees them. */
  public synchronized void flush() throws IOException {
    ensureOpen();
    out.flush();
  }

  /** Flushes and closes the file; later calls do nothing. */
  @Override
  public synchronized void close() throws IOException {
    if (closed) {
      return;
    }
    closed = true;
    out.close();
  }

  private void writeEvent(long step, Summary summary) throws IOException {
    Event event = Event.newBuilder()
        .setWallTime(nowSeconds())
        .setStep(step)
        .setSummary(summary)
        .build();
    TfRecord.write(out, event.toByteArray());
  }

  private void ensureOpen() {
    if (closed) {
      throw new IllegalStateException("TensorBoardWriter for " + file + " is already closed");
    }
  }

  private static double nowSeconds() {
    return System.currentTimeMillis() / 1000.0;
  }

  // Two writers started in the same second on one host would collide; TensorBoard only needs
  // "tfevents" in the name, so a numeric suffix keeps both files readable.
  private static Path createUniqueFile(Path dir) throws IOException {
    String base = "events.out.tfevents." + (System.currentTimeMillis() / 1000) + "." + hostName();
    for (int attempt = 0; ; attempt++) {
      Path candidate = dir.resolve(attempt == 0 ? base : base + "." + attempt);
      try {
        return Files.createFile(candidate);
      } catch (FileAlreadyExistsException taken) {
        if (attempt > 1000) {
          throw new IOException("cannot create a new event file in " + dir + ": " + base + "* all exist");
        }
      }
    }
  }

  private static String hostName() {
    String fromEnv = System.getenv("HOSTNAME");
    String name;
    if (fromEnv != null && !fromEnv.isBlank()) {
      name = fromEnv;
    } else {
      try {
        name = InetAddress.getLocalHost().getHostName();
      } catch (IOException | UncheckedIOException unresolved) {
        name = "localhost";
      }
    }
    return name.replaceAll("[^A-Za-z0-9_.-]", "_");
  }
}
