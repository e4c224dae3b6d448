package dev.tfdpo.report;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import java.io.IOException;
import java.util.List;

/**
 * TRL's invariant-test reference JSON: {@code {"steps": [{"step": 1, "loss": ...}, ...]}}; other top-level
 * keys (configuration, versions) are ignored.
 */
final class StepsListFormat implements CurveFormat {

  @Override
  public String name() {
    return "steps-json";
  }

  @Override
  public String expects() {
    return "a JSON object with a \"steps\" list of {\"step\": N, metric: value, ...} (TRL reference)";
  }

  @Override
  public boolean accepts(Sniff input) throws IOException {
    JsonElement whole = input.wholeJson();
    return whole != null && whole.isJsonObject() && whole.getAsJsonObject().has("steps")
        && whole.getAsJsonObject().get("steps").isJsonArray();
  }

  @Override
  public RunCurves read(Sniff input, List<String> requested) throws IOException {
    JsonArray steps = input.wholeJson().getAsJsonObject().getAsJsonArray("steps");
    RunCurves curves = new RunCurves(input.file(), name());
    for (int i = 0; i < steps.size(); i++) {
      String where = input.file() + ": steps[" + i + "]";
      if (!steps.get(i).isJsonObject()) {
        throw new ReportInputException(where + ": expected an object, found " + steps.get(i));
      }
      JsonValues.addEntry(curves, JsonValues.step(steps.get(i).getAsJsonObject(), where),
          steps.get(i).getAsJsonObject());
    }
    return curves;
  }
}
