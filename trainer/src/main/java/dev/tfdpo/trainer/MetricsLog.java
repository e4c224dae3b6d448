package dev.tfdpo.trainer;

import com.google.gson.JsonObject;
import java.io.BufferedWriter;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Map;

/** Appends one JSON object per logged step to {@code metrics.jsonl}, flushed line by line. */
public final class MetricsLog implements AutoCloseable {

  private final BufferedWriter out;

  /** Starts {@code file} afresh, or appends to it (a resumed run). */
  public MetricsLog(Path file, boolean append) throws IOException {
    out = Files.newBufferedWriter(file, StandardCharsets.UTF_8,
        StandardOpenOption.CREATE, append ? StandardOpenOption.APPEND : StandardOpenOption.TRUNCATE_EXISTING,
        StandardOpenOption.WRITE);
  }

  /** Writes {@code step} then the metrics in their order. */
  public void write(long step, Map<String, Double> metrics) throws IOException {
    JsonObject line = new JsonObject();
    line.addProperty("step", step);
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
