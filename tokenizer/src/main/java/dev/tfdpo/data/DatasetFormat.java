package dev.tfdpo.data;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import java.util.Arrays;
import java.util.Locale;
import java.util.function.Function;
import java.util.function.Predicate;
import java.util.stream.Collectors;

/**
 * The data layouts the loader reads, each with the fields that identify it and its row parser.
 * Auto-detection tries them in declaration order on the first row, so more specific layouts come first.
 */
public enum DatasetFormat {
  /** {@code prompt_input_ids}/{@code chosen_input_ids}/{@code rejected_input_ids}: no tokenizer needed. */
  TOKEN_IDS(r -> r.has("prompt_input_ids") && r.has("chosen_input_ids"), Formats::tokenIds),
  /** Unpaired KTO rows: {@code prompt}/{@code completion}/{@code label} or {@code messages}/{@code label}. */
  KTO(r -> r.has("label") && (r.has("completion") || r.has("messages")), Formats::kto),
  /** PaddleNLP KTO: {@code src}, one {@code response}, {@code sort} [1] or [0]. */
  PADDLENLP_KTO(r -> r.has("src") && r.has("response") && responses(r) == 1, Formats::paddleKto),
  /** PaddleNLP preference: {@code src}/{@code tgt}/{@code response}/{@code sort}. */
  PADDLENLP(r -> r.has("src") && r.has("response"), Formats::paddle),
  /** LLaMA-Factory sharegpt ranking: {@code conversations}/{@code chosen}/{@code rejected}. */
  SHAREGPT(r -> r.has("conversations") && r.has("chosen"), Formats::sharegpt),
  /** ms-swift: {@code messages} + {@code rejected_response}. */
  MS_SWIFT(r -> r.has("messages") && r.has("rejected_response"), Formats::msSwift),
  /** berkeley-nest/Nectar: {@code prompt} + ranked {@code answers}. */
  NECTAR(r -> r.has("prompt") && r.has("answers"), Formats::nectar),
  /** Intel/orca_dpo_pairs: {@code system}/{@code question}/{@code chosen}/{@code rejected}. */
  ORCA(r -> r.has("question") && r.has("chosen"), Formats::orca),
  /** LLaMA-Factory / MindSpeed alpaca ranking: {@code instruction}/{@code input}/{@code output} or chosen/rejected. */
  ALPACA(r -> r.has("instruction") && (r.has("output") || r.has("chosen")), Formats::alpaca),
  /** HuggingFaceH4/ultrafeedback_binarized: string {@code prompt}, full conversations in chosen/rejected. */
  ULTRAFEEDBACK(r -> Json.isString(r, "prompt") && Json.isArray(r, "chosen"), Formats::ultrafeedback),
  /** TRL conversational: message lists in {@code chosen}/{@code rejected} (and optional {@code prompt}). */
  TRL_CONVERSATIONAL(r -> Json.isArray(r, "chosen") && r.has("rejected"), Formats::trlConversational),
  /** TRL standard: strings {@code prompt} (optional)/{@code chosen}/{@code rejected}. */
  TRL_STANDARD(r -> r.has("chosen") && r.has("rejected"), Formats::trlStandard);

  private final Predicate<JsonObject> detect;
  private final Function<JsonObject, Example> parser;

  DatasetFormat(Predicate<JsonObject> detect, Function<JsonObject, Example> parser) {
    this.detect = detect;
    this.parser = parser;
  }

  /** The {@code dataset_format} value. */
  public String optionName() {
    return name().toLowerCase(Locale.ROOT);
  }

  /** Parses one row; throws {@link BadRowException} for an unusable one. */
  Example parse(JsonObject row) {
    return parser.apply(row);
  }

  /** The first format whose fields {@code row} carries, or null. */
  public static DatasetFormat detect(JsonObject row) {
    for (DatasetFormat f : values()) {
      if (f.detect.test(row)) {
        return f;
      }
    }
    return null;
  }

  /** The format named {@code name} ({@code dataset_format}); "auto" gives null. */
  public static DatasetFormat byName(String name) {
    if (name == null || name.equals("auto")) {
      return null;
    }
    for (DatasetFormat f : values()) {
      if (f.optionName().equals(name)) {
        return f;
      }
    }
    throw new IllegalArgumentException(
        "unknown dataset_format '" + name + "'; use auto or one of " + names());
  }

  /** All option values, comma-separated. */
  public static String names() {
    return Arrays.stream(values()).map(DatasetFormat::optionName).collect(Collectors.joining(", "));
  }

  private static int responses(JsonObject r) {
    JsonElement e = r.get("response");
    return e.isJsonArray() ? e.getAsJsonArray().size() : 1;
  }
}
