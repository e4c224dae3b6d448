package dev.tfdpo.report;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import java.io.IOException;
import java.util.List;
import java.util.Map;

/**
 * A MindSpeed-LLM baseline JSON: {@code {"lm loss": [...], "grad norm": [...]}}, one value per step with
 * step = index + 1. Lists that are not all numbers ({@code "memo info"} objects) are ignored.
 */
final class BaselineArraysFormat implements CurveFormat {

  @Override
  public String name() {
    return "baseline-arrays-json";
  }

  @Override
  public String expects() {
    return "a JSON object of number lists, one value per step from step 1 (MindSpeed-LLM baseline)";
  }

  @Override
  public boolean accepts(Sniff input) throws IOException {
    JsonElement whole = input.wholeJson();
    if (whole == null || !whole.isJsonObject()) {
      return false;
    }
    return whole.getAsJsonObject().entrySet().stream().anyMatch(field -> isNumberList(field.getValue()));
  }

  @Override
  public RunCurves read(Sniff input, List<String> requested) throws IOException {
    JsonObject root = input.wholeJson().getAsJsonObject();
    RunCurves curves = new RunCurves(input.file(), name());
    for (Map.Entry<String, JsonElement> field : root.entrySet()) {
      if (!isNumberList(field.getValue())) {
        continue;
      }
      String metric = MetricNames.canonical(field.getKey());
      JsonArray values = field.getValue().getAsJsonArray();
      for (int index = 0; index < values.size(); index++) {
        long step = index + 1L;
        curves.put(metric, step, JsonValues.number(values.get(index)));
      }
    }
    return curves;
  }

  private static boolean isNumberList(JsonElement element) {
    if (!element.isJsonArray() || element.getAsJsonArray().isEmpty()) {
      return false;
    }
    for (JsonElement item : element.getAsJsonArray()) {
      if (JsonValues.number(item) == null) {
        return false;
      }
    }
    return true;
  }
}
