package dev.tfdpo.report;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonPrimitive;
import java.util.Map;
import java.util.Set;

/** Shared rules for JSON-based formats: what is a metric value, what is a step. */
final class JsonValues {

  /** Keys that hold the step itself, never a metric. */
  static final Set<String> STEP_KEYS = Set.of("step", "global_step", "train/global_step", "_step");

  private JsonValues() {}

  /**
   * The value of a number, or of a string Python's json writes for non-finite floats ("NaN",
   * "Infinity"); null for anything else (nested objects, lists, text, booleans).
   */
  static Double number(JsonElement element) {
    if (element == null || !element.isJsonPrimitive()) {
      return null;
    }
    JsonPrimitive primitive = element.getAsJsonPrimitive();
    if (primitive.isNumber()) {
      return primitive.getAsDouble();
    }
    if (primitive.isString()) {
      switch (primitive.getAsString()) {
        case "NaN":
        case "nan":
          return Double.NaN;
        case "Infinity":
        case "inf":
          return Double.POSITIVE_INFINITY;
        case "-Infinity":
        case "-inf":
          return Double.NEGATIVE_INFINITY;
        default:
          return null;
      }
    }
    return null;
  }

  /**
   * The integer step of a log entry.
   *
   * @param where names the file and entry in the error message
   * @throws ReportInputException when the step is missing or not a whole number
   */
  static long step(JsonObject entry, String where) {
    Double step = number(entry.get("step"));
    if (step == null || step.isNaN() || step != Math.rint(step)) {
      throw new ReportInputException(where + ": expected an integer \"step\", found "
          + (entry.has("step") ? entry.get("step") : "no \"step\" key"));
    }
    return step.longValue();
  }

  /** Adds every numeric, non-step key of one log entry to {@code curves} at {@code step}. */
  static void addEntry(RunCurves curves, long step, JsonObject entry) {
    for (Map.Entry<String, JsonElement> field : entry.entrySet()) {
      if (STEP_KEYS.contains(field.getKey())) {
        continue;
      }
      Double value = number(field.getValue());
      if (value != null) {
        curves.put(MetricNames.canonical(field.getKey()), step, value);
      }
    }
  }
}
