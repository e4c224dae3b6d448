package dev.tfdpo.trainer;

import com.google.gson.JsonObject;
import java.io.BufferedWriter;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Map;

/**
 * Appends one JSON object per logged step to {@code metrics.jsonl}, flushed line by line. Each line
 * carries the run's fingerprint ({@link RunFingerprint}), so lines of two runs in one file are found.
 */
public final class MetricsLog implements AutoCloseable {

  private final BufferedWriter out;
  private final String runId;

  /** Starts {@code file} afresh, or appends to it (a resumed run); lines carry {@code runId}. */
  public MetricsLog(Path file, boolean append, String runId) throws IOException {
    this.runId = runId;
    out = Files.newBufferedWriter(file, StandardCharsets.UTF_8,
        StandardOpenOption.CREATE, append ? StandardOpenOption.APPEND : StandardOpenOption.TRUNCATE_EXISTING,
        StandardOpenOption.WRITE);
  }

  /** Writes {@code step}, the run's fingerprint, then the metrics in their order. */
  public void write(long step, Map<String, Double> metrics) throws IOException {
    JsonObject line = new JsonObject();
    line.addProperty("step", step);
    line.addProperty(RunFingerprint.KEY, runId);
    metrics.forEach(line::addProperty);
    out.write(line.toString());
    out.newLine();
    out.flush();
  }

  @Override
  public void close() throws IOException {
    out.close();
  }
}
