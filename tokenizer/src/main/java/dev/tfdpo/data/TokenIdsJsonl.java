package dev.tfdpo.data;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import dev.tfdpo.io.StrictJson;
import java.io.BufferedReader;
import java.io.IOException;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Reads pre-tokenized preference rows: one JSON object per line with integer arrays
 * {@code prompt_input_ids}, {@code chosen_input_ids} and {@code rejected_input_ids} (the layout of TRL's
 * tokenized data set and of {@code golden/a-sigmoid/tokens.jsonl}). Other fields are ignored.
 */
public final class TokenIdsJsonl {

  /** The three fields a row must carry. */
  public static final List<String> FIELDS =
      List.of("prompt_input_ids", "chosen_input_ids", "rejected_input_ids");

  private TokenIdsJsonl() {}

  /** True when the first non-blank line of {@code file} is an object carrying the three id fields. */
  public static boolean looksLikeTokenIds(Path file) throws IOException {
    try (BufferedReader in = Files.newBufferedReader(file, StandardCharsets.UTF_8)) {
      String line;
      while ((line = in.readLine()) != null) {
        if (line.isBlank()) {
          continue;
        }
        try {
          JsonElement e = StrictJson.parse(line);
          return e.isJsonObject() && e.getAsJsonObject().has(FIELDS.get(0));
        } catch (StrictJson.Invalid ex) {
          return false;
        }
      }
    }
    return false;
  }

  /** Reads every row of {@code file}; a malformed row is an error naming file, line and field. */
  public static List<TokenizedPair> read(Path file) throws IOException {
    List<TokenizedPair> pairs = new ArrayList<>();
    int lineNo = 0;
    try (BufferedReader in = Files.newBufferedReader(file, StandardCharsets.UTF_8)) {
      String line;
      while ((line = in.readLine()) != null) {
        lineNo++;
        if (line.isBlank()) {
          continue;
        }
        pairs.add(parseRow(file, lineNo, pairs.size(), line));
      }
    } catch (CharacterCodingException e) {
      throw new DataFormatException(file, lineNo + 1, "invalid UTF-8 at byte offset "
          + RowReader.firstInvalidUtf8(file) + "; the file must be UTF-8");
    }
    return pairs;
  }

  private static TokenizedPair parseRow(Path file, int lineNo, int index, String line) {
    JsonObject row;
    try {
      JsonElement e = StrictJson.parse(line);
      if (!e.isJsonObject()) {
        throw new DataFormatException(file, lineNo, "expected a JSON object, found " + Json.kind(e));
      }
      row = e.getAsJsonObject();
    } catch (StrictJson.Invalid ex) {
      throw new DataFormatException(file, lineNo, ex.duplicateKey() != null
          ? "key '" + ex.duplicateKey() + "' appears twice in the row" : "invalid JSON: " + ex.getMessage());
    }
    int[] prompt = ids(file, lineNo, row, FIELDS.get(0));
    int[] chosen = ids(file, lineNo, row, FIELDS.get(1));
    int[] rejected = ids(file, lineNo, row, FIELDS.get(2));
    if (chosen.length == 0 || rejected.length == 0) {
      throw new DataFormatException(file, lineNo, "empty chosen or rejected completion");
    }
    return new TokenizedPair(index, prompt, chosen, rejected);
  }

  private static int[] ids(Path file, int lineNo, JsonObject row, String field) {
    JsonElement value = row.get(field);
    if (value == null || !value.isJsonArray()) {
      throw new DataFormatException(
          file, lineNo, "field '" + field + "' is missing or not an array of token ids");
    }
    JsonArray array = value.getAsJsonArray();
    int[] out = new int[array.size()];
    for (int i = 0; i < out.length; i++) {
      JsonElement v = array.get(i);
      if (!v.isJsonPrimitive() || !v.getAsJsonPrimitive().isNumber()) {
        throw new DataFormatException(file, lineNo, "field '" + field + "' item " + i + " is not an integer: " + v);
      }
      double d = v.getAsDouble();
      if (d != Math.rint(d) || d < 0 || d > Integer.MAX_VALUE) {
        throw new DataFormatException(file, lineNo, "field '" + field + "' item " + i + " is not a token id: " + v);
      }
      out[i] = (int) d;
    }
    return out;
  }
}
