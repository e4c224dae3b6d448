package dev.tfdpo.data;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.TreeMap;

/**
 * Everything {@link DatasetLoader#load(DataOptions)} needs.
 *
 * @param path the data file: JSON array or JSON lines, optionally {@code .gz}, or a preprocessed file
 * @param modelDir the model directory holding the tokenizer ({@code model_name_or_path}); may be null
 *     for token-id data
 * @param tokenizerPath {@code tokenizer_name_or_path}: a tokenizer file or directory overriding
 *     {@code modelDir}'s; nullable
 * @param datasetFormat {@code dataset_format}: "auto" or a {@link DatasetFormat} name
 * @param chatTemplate {@code chat_template}: null for the model's, a built-in name, or a .jinja file
 * @param mapKeys {@code map_keys}: field name used by the format → column in the file ("" = absent)
 * @param maxSeqLen {@code max_seq_len}: limit on prompt + completion tokens (TRL's max_length)
 * @param maxPromptLen {@code max_prompt_len}: limit on prompt tokens; 0 = none (keep_end: max_seq_len/2)
 * @param truncationMode {@code truncation_mode}
 * @param onBadRow {@code on_bad_row}
 * @param packing {@code packing}: the pair is one packed {@code [prompt, chosen, rejected]} segment, so
 *     {@code max_seq_len} limits prompt + chosen + rejected instead of each prompt + completion
 */
public record DataOptions(
    Path path,
    Path modelDir,
    Path tokenizerPath,
    String datasetFormat,
    String chatTemplate,
    Map<String, String> mapKeys,
    int maxSeqLen,
    int maxPromptLen,
    TruncationMode truncationMode,
    OnBadRow onBadRow,
    boolean packing) {

  /** TRL's default {@code max_length} (the config table's default of {@code max_seq_len}). */
  public static final int DEFAULT_MAX_SEQ_LEN = 1024;

  /** Default {@code dataset_format}: detect the format from the first row. */
  public static final String DEFAULT_FORMAT = "auto";

  /** Default {@code truncation_mode}, TRL's. */
  public static final TruncationMode DEFAULT_TRUNCATION = TruncationMode.KEEP_START;

  /** Default {@code on_bad_row}. */
  public static final OnBadRow DEFAULT_ON_BAD_ROW = OnBadRow.ERROR;

  public DataOptions {
    if (path == null) {
      throw new IllegalArgumentException("no data file given (train_dataset_path)");
    }
    datasetFormat = datasetFormat == null ? DEFAULT_FORMAT : datasetFormat;
    DatasetFormat.byName(datasetFormat);
    mapKeys = mapKeys == null ? Map.of() : Map.copyOf(mapKeys);
    truncationMode = truncationMode == null ? DEFAULT_TRUNCATION : truncationMode;
    onBadRow = onBadRow == null ? DEFAULT_ON_BAD_ROW : onBadRow;
    if (maxSeqLen < 1) {
      throw new IllegalArgumentException("max_seq_len must be at least 1, got " + maxSeqLen);
    }
    if (maxPromptLen < 0) {
      throw new IllegalArgumentException("max_prompt_len must be 0 (no limit) or positive, got " + maxPromptLen);
    }
    if (maxPromptLen >= maxSeqLen) {
      throw new IllegalArgumentException(
          "max_prompt_len (" + maxPromptLen + ") must be below max_seq_len (" + maxSeqLen
              + ") to leave room for the completion");
    }
  }

  /** Defaults for everything but the data file and model directory. */
  public static DataOptions of(Path path, Path modelDir) {
    return new DataOptions(path, modelDir, null, DEFAULT_FORMAT, null, Map.of(), DEFAULT_MAX_SEQ_LEN, 0, null, null, false);
  }

  /** A copy with another chat template. */
  public DataOptions withChatTemplate(String template) {
    return new DataOptions(path, modelDir, tokenizerPath, datasetFormat, template, mapKeys, maxSeqLen,
        maxPromptLen, truncationMode, onBadRow, packing);
  }

  /** A copy with another format. */
  public DataOptions withFormat(String format) {
    return new DataOptions(path, modelDir, tokenizerPath, format, chatTemplate, mapKeys, maxSeqLen,
        maxPromptLen, truncationMode, onBadRow, packing);
  }

  /** A copy with other length settings. */
  public DataOptions withLengths(int seq, int prompt, TruncationMode mode) {
    return new DataOptions(path, modelDir, tokenizerPath, datasetFormat, chatTemplate, mapKeys, seq, prompt,
        mode, onBadRow, packing);
  }

  /** A copy with another bad-row policy. */
  public DataOptions withOnBadRow(OnBadRow policy) {
    return new DataOptions(path, modelDir, tokenizerPath, datasetFormat, chatTemplate, mapKeys, maxSeqLen,
        maxPromptLen, truncationMode, policy, packing);
  }

  /** A copy reading another file. */
  public DataOptions withPath(Path file) {
    return new DataOptions(file, modelDir, tokenizerPath, datasetFormat, chatTemplate, mapKeys, maxSeqLen,
        maxPromptLen, truncationMode, onBadRow, packing);
  }

  /** A copy with packing on or off. */
  public DataOptions withPacking(boolean packed) {
    return new DataOptions(path, modelDir, tokenizerPath, datasetFormat, chatTemplate, mapKeys, maxSeqLen,
        maxPromptLen, truncationMode, onBadRow, packed);
  }

  /** A copy with a map_keys rename. */
  public DataOptions withMapKeys(Map<String, String> keys) {
    return new DataOptions(path, modelDir, tokenizerPath, datasetFormat, chatTemplate, keys, maxSeqLen,
        maxPromptLen, truncationMode, onBadRow, packing);
  }

  /**
   * The settings that decide the token ids, as recorded in (and compared against) preprocessed files.
   * The data path and bad-row policy are not among them.
   */
  public Map<String, Object> tokenSettings() {
    Map<String, Object> s = new LinkedHashMap<>();
    s.put("dataset_format", datasetFormat);
    s.put("chat_template", chatTemplate == null ? "model" : chatTemplate);
    s.put("map_keys", new TreeMap<>(mapKeys));
    s.put("max_seq_len", maxSeqLen);
    s.put("max_prompt_len", maxPromptLen);
    s.put("truncation_mode", truncationMode.optionName());
    s.put("packing", packing);
    return s;
  }
}
