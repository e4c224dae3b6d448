package dev.tfdpo.data;

import com.google.gson.FieldNamingPolicy;
import com.google.gson.Gson;
import com.google.gson.GsonBuilder;
import dev.tfdpo.tokenizer.IntList;
import java.util.Arrays;
import java.util.Map;
import java.util.TreeMap;

/**
 * What loading a data file did: rows read, used, cut, dropped and skipped (with reasons) and the token
 * lengths of what is used.
 *
 * @param file the data file
 * @param datasetFormat the data format read (after auto-detection)
 * @param tokenizer the tokenizer backend ("none" for token-id data)
 * @param tokenizerFingerprint SHA-256 of the tokenizer files, or null
 * @param rowsRead rows in the file (blank lines aside)
 * @param used rows turned into pairs (or unpaired examples)
 * @param truncated used rows that were cut to the length limits
 * @param dropped rows removed by {@code truncation_mode drop}, by reason
 * @param skipped unusable rows left out by {@code on_bad_row skip}, by rule
 * @param promptNotPrefix used conversational rows whose rendered prompt did not tokenize to a prefix of
 *     the rendered conversation (TRL uses them anyway; a sign of a template/tokenizer mismatch)
 * @param promptLengths prompt lengths in tokens
 * @param completionLengths completion lengths in tokens (chosen and rejected together)
 */
public record DataSummary(
    String file,
    String datasetFormat,
    String tokenizer,
    String tokenizerFingerprint,
    long rowsRead,
    long used,
    long truncated,
    Map<String, Long> dropped,
    Map<String, Long> skipped,
    long promptNotPrefix,
    Lengths promptLengths,
    Lengths completionLengths) {

  /** How many problems a {@link BadRowsException} lists. */
  public static final int MAX_LISTED = 20;

  private static final Gson GSON =
      new GsonBuilder()
          .setFieldNamingPolicy(FieldNamingPolicy.LOWER_CASE_WITH_UNDERSCORES)
          .serializeNulls()
          .setPrettyPrinting()
          .create();

  /**
   * Length percentiles (nearest rank) in tokens.
   *
   * @param count how many lengths
   */
  public record Lengths(long count, int p50, int p90, int p99, int max) {

    static Lengths of(IntList values) {
      int[] v = values.toArray();
      Arrays.sort(v);
      if (v.length == 0) {
        return new Lengths(0, 0, 0, 0, 0);
      }
      return new Lengths(v.length, rank(v, 50), rank(v, 90), rank(v, 99), v[v.length - 1]);
    }

    private static int rank(int[] sorted, int percent) {
      int i = (int) Math.ceil(percent / 100.0 * sorted.length) - 1;
      return sorted[Math.max(0, Math.min(sorted.length - 1, i))];
    }

    @Override
    public String toString() {
      return "p50 " + p50 + ", p90 " + p90 + ", p99 " + p99 + ", max " + max;
    }
  }

  /** Total dropped rows. */
  public long droppedTotal() {
    return dropped.values().stream().mapToLong(Long::longValue).sum();
  }

  /** Total skipped rows. */
  public long skippedTotal() {
    return skipped.values().stream().mapToLong(Long::longValue).sum();
  }

  /**
   * This summary as read back from a preprocessed file: {@code file} becomes that file, and the format
   * names where the pairs came from ({@code preprocessed from FORMAT FILE}), so logs show the file
   * actually read.
   */
  public DataSummary readFrom(String preprocessedFile) {
    String source = "preprocessed from " + datasetFormat + " " + file;
    return new DataSummary(preprocessedFile, source, tokenizer, tokenizerFingerprint, rowsRead, used, truncated,
        dropped, skipped, promptNotPrefix, promptLengths, completionLengths);
  }

  /** The summary as a JSON object (snake_case keys). */
  public String toJson() {
    return GSON.toJson(this);
  }

  /** Reads {@link #toJson()} back. */
  public static DataSummary fromJson(String json) {
    return GSON.fromJson(json, DataSummary.class);
  }

  /** A few human-readable lines for the log. */
  public String format() {
    StringBuilder sb = new StringBuilder();
    sb.append("data: ").append(file).append(" (").append(datasetFormat).append(", tokenizer ").append(tokenizer).append(")\n");
    sb.append("  rows read ").append(rowsRead).append(", used ").append(used)
        .append(", truncated ").append(truncated)
        .append(", dropped ").append(droppedTotal())
        .append(", skipped ").append(skippedTotal()).append('\n');
    if (!dropped.isEmpty()) {
      sb.append("  dropped: ").append(reasons(dropped)).append('\n');
    }
    if (!skipped.isEmpty()) {
      sb.append("  skipped: ").append(reasons(skipped)).append('\n');
    }
    if (promptNotPrefix > 0) {
      sb.append("  warning: ").append(promptNotPrefix)
          .append(" rows: the prompt's tokens are not a prefix of prompt+completion (check the chat template)\n");
    }
    sb.append("  prompt tokens: ").append(promptLengths).append('\n');
    sb.append("  completion tokens: ").append(completionLengths);
    return sb.toString();
  }

  private static String reasons(Map<String, Long> m) {
    StringBuilder sb = new StringBuilder();
    new TreeMap<>(m).forEach((k, v) -> sb.append(sb.length() == 0 ? "" : ", ").append(k).append(' ').append(v));
    return sb.toString();
  }
}
