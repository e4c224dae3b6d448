package dev.tfdpo.data;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import dev.tfdpo.tokenizer.Tokenizer;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Preference pairs as TRL 1.13's {@code RewardTrainer} reads them: each side is one whole sequence, not a
 * prompt plus a completion.
 *
 * <p>Text rows {@code {"prompt"?, "chosen", "rejected", "margin"?}} (explicit or implicit prompt): the EOS
 * string is appended to {@code chosen} and to {@code rejected} unless already there, the prompt is
 * prepended as text, and each side is tokenized as one text with the tokenizer's own special tokens (BOS
 * for Llama). Pre-tokenized rows {@code {"chosen_ids", "rejected_ids", "margin"?}} are taken as they are.
 * Pairs with a side longer than {@code max_length} are dropped, as TRL's filter does (not truncated).
 * The optional {@code margin} is a number per row; TRL reads it when the first row has it, so here every
 * row must have it or none. Conversational rows are refused: rendering them needs the chat template
 * path of TRL's {@code apply_chat_template}, which this reader does not implement.
 */
public final class RewardPairs {

  /**
   * One pair.
   *
   * @param index position of the row among the data set's rows (0-based, dropped rows counted)
   * @param chosen the chosen sequence's ids
   * @param rejected the rejected sequence's ids
   * @param margin the row's margin, 0 without the column
   */
  public record Pair(long index, int[] chosen, int[] rejected, float margin) {}

  /**
   * What was read.
   *
   * @param pairs the usable pairs in file order
   * @param hasMargin whether the rows carry a {@code margin} column
   * @param dropped rows dropped for being longer than {@code max_length}
   */
  public record Loaded(List<Pair> pairs, boolean hasMargin, int dropped) {}

  private RewardPairs() {}

  /**
   * Reads and tokenizes {@code file}; a bad row is an error naming the file, its line and the field.
   *
   * @param maxLength longest sequence kept (TRL's {@code max_length}); 0 or less keeps all
   */
  public static Loaded load(Path file, Tokenizer tokenizer, int maxLength) throws IOException {
    String eos = tokenizer.specialTokens().eos();
    if (eos == null) {
      throw new IllegalArgumentException("the tokenizer has no EOS token, which reward-model text rows need; "
          + "set eos_token in tokenizer_config.json");
    }
    List<Pair> pairs = new ArrayList<>();
    Boolean hasMargin = null;
    int dropped = 0;
    long index = 0;
    try (RowReader reader = new RowReader(file)) {
      for (RowReader.Row row = reader.next(); row != null; row = reader.next(), index++) {
        try {
          if (row.error() != null) {
            throw row.error();
          }
          JsonObject o = row.object();
          boolean margin = Json.has(o, "margin");
          if (hasMargin == null) {
            hasMargin = margin;
          } else if (hasMargin != margin) {
            throw new BadRowException("margin_column", hasMargin
                ? "field 'margin' is missing; the first row has one, so every row needs one"
                : "field 'margin' is present but the first row has none; give every row a margin or none");
          }
          Pair p = pair(index, o, tokenizer, eos, margin ? margin(o) : 0f);
          if (maxLength > 0 && (p.chosen().length > maxLength || p.rejected().length > maxLength)) {
            dropped++;
            continue;
          }
          pairs.add(p);
        } catch (BadRowException e) {
          throw new DataFormatException(file, row.line(), e.getMessage());
        }
      }
    }
    if (pairs.isEmpty()) {
      throw new DataFormatException(file, 0, dropped > 0
          ? "every pair (" + dropped + ") has a side longer than max_length " + maxLength + "; raise max_length"
          : "the file holds no pairs");
    }
    return new Loaded(List.copyOf(pairs), Boolean.TRUE.equals(hasMargin), dropped);
  }

  private static Pair pair(long index, JsonObject o, Tokenizer tokenizer, String eos, float margin) {
    if (Json.has(o, "chosen_ids") || Json.has(o, "rejected_ids")) {
      return new Pair(index, ids(o, "chosen_ids"), ids(o, "rejected_ids"), margin);
    }
    for (String side : List.of("chosen", "rejected")) {
      if (Json.isArray(o, side)) {
        throw new BadRowException("conversational", "field '" + side + "' is a conversation; reward-model data "
            + "must be plain text ({\"prompt\", \"chosen\", \"rejected\"}) or token ids ({\"chosen_ids\", "
            + "\"rejected_ids\"}): render the conversations with the model's chat template first");
      }
    }
    String prompt = Json.has(o, "prompt") ? Json.text(o.get("prompt"), "prompt") : "";
    return new Pair(index, text(tokenizer, prompt, Json.string(o, "chosen"), eos),
        text(tokenizer, prompt, Json.string(o, "rejected"), eos), margin);
  }

  /** TRL: EOS appended to the side (not to the prompt) unless already there, then prompt + side, one text. */
  static int[] text(Tokenizer tokenizer, String prompt, String side, String eos) {
    String completed = side.endsWith(eos) ? side : side + eos;
    return tokenizer.encodeWithSpecialTokens(prompt + completed);
  }

  private static int[] ids(JsonObject o, String key) {
    JsonArray a = Json.array(o, key); // a list, not empty
    int[] out = new int[a.size()];
    for (int i = 0; i < out.length; i++) {
      JsonElement e = a.get(i);
      if (!e.isJsonPrimitive() || !e.getAsJsonPrimitive().isNumber() || e.getAsDouble() != Math.rint(e.getAsDouble())
          || e.getAsDouble() < 0) {
        throw new BadRowException("wrong_type", "field '" + key + "' element " + i + " must be a token id (an integer "
            + ">= 0), found " + e);
      }
      out[i] = e.getAsInt();
    }
    return out;
  }

  private static float margin(JsonObject o) {
    JsonElement e = o.get("margin");
    if (!e.isJsonPrimitive() || !e.getAsJsonPrimitive().isNumber() || !Double.isFinite(e.getAsDouble())) {
      throw new BadRowException("wrong_type", "field 'margin' must be a finite number, found " + e);
    }
    return e.getAsFloat();
  }
}
