package dev.tfdpo.trainer;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import dev.tfdpo.io.StrictJson;
import dev.tfdpo.trainer.config.ConfigException;
import dev.tfdpo.trainer.config.TrainConfig;
import java.io.BufferedReader;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.LocalDateTime;
import java.time.format.DateTimeFormatter;
import java.util.Optional;
import java.util.concurrent.ThreadLocalRandom;

/**
 * A run's fingerprint, {@code run_id}: made when a run starts, kept by a resumed run, and written into
 * {@code resolved_config.json}, every {@code metrics.jsonl} line and the model files' metadata, so that
 * resume and export can tell when files of two runs meet in one directory. Files without one (older
 * versions, other tools) are not refused.
 */
public final class RunFingerprint {

  /** The member of {@code resolved_config.json} and of each metrics line, and the safetensors metadata key. */
  public static final String KEY = TrainConfig.RUN_ID;

  private RunFingerprint() {}

  /** A new fingerprint: the start time (readable in a listing) and 32 random bits. */
  static String create() {
    return LocalDateTime.now().format(DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss"))
        + "-" + Long.toHexString(ThreadLocalRandom.current().nextLong() & 0xffffffffL);
  }

  /** {@code file} as one strict JSON object; anything else is an error ending with {@code advice}. */
  public static JsonObject readObject(Path file, String advice) throws IOException {
    JsonElement e;
    try {
      e = StrictJson.parse(Files.readString(file, StandardCharsets.UTF_8));
    } catch (StrictJson.Invalid | java.nio.charset.CharacterCodingException ex) {
      throw new ConfigException(file + " cannot be read (" + ex.getMessage() + "); " + advice);
    }
    if (!e.isJsonObject()) {
      throw new ConfigException(file + " cannot be read (not a JSON object); " + advice);
    }
    return e.getAsJsonObject();
  }

  /** The fingerprint in a {@code resolved_config.json}; empty if it has none or cannot be read. */
  public static Optional<String> of(Path resolvedConfig) {
    try {
      return stringMember(StrictJson.parse(Files.readString(resolvedConfig, StandardCharsets.UTF_8)));
    } catch (IOException | StrictJson.Invalid e) {
      return Optional.empty();
    }
  }

  /**
   * Refuses a {@code metrics.jsonl} holding a line of another run than {@code runId} (two trainers once
   * wrote one directory, or a file was copied in): continuing or exporting it would mix two runs' curves.
   */
  public static void checkMetrics(Path metrics, String runId, String advice) throws IOException {
    if (!Files.isRegularFile(metrics)) {
      return;
    }
    try (BufferedReader in = Files.newBufferedReader(metrics, StandardCharsets.UTF_8)) {
      String line;
      int lineNo = 0;
      while ((line = in.readLine()) != null) {
        lineNo++;
        Optional<String> other = lineRun(line).filter(id -> !id.equals(runId));
        if (other.isPresent()) {
          throw new ConfigException(metrics + ":" + lineNo + " was logged by run " + other.get() + ", not by run "
              + runId + " of its " + DpoTrainer.CONFIG_FILE + ": the directory mixes two runs; " + advice);
        }
      }
    }
  }

  /** A metrics line's fingerprint; empty for a line without one or one that is not JSON (a torn last line). */
  private static Optional<String> lineRun(String line) {
    try {
      return line.isBlank() ? Optional.empty() : stringMember(StrictJson.parse(line));
    } catch (StrictJson.Invalid e) {
      return Optional.empty();
    }
  }

  private static Optional<String> stringMember(JsonElement e) {
    JsonElement id = e.isJsonObject() ? e.getAsJsonObject().get(KEY) : null;
    return id != null && id.isJsonPrimitive() ? Optional.of(id.getAsString()) : Optional.empty();
  }
}
