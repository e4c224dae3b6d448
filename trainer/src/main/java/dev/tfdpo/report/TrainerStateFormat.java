package dev.tfdpo.report;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import java.io.IOException;
import java.util.List;

/**
 * A Hugging Face / TRL / PaddleNLP {@code trainer_state.json}: its {@code log_history} list of entries,
 * each with {@code step} and metrics (evaluation entries with {@code eval_} keys). The end-of-training
 * summary entry (the one with {@code train_loss}) is skipped: it is not a per-step value.
 */
final class TrainerStateFormat implements CurveFormat {

  @Override
  public String name() {
    return "trainer_state.json";
  }

  @Override
  public String expects() {
    return "a JSON object with a \"log_history\" list (Hugging Face / TRL / PaddleNLP trainer_state.json)";
  }

  @Override
  public boolean accepts(Sniff input) throws IOException {
    JsonElement whole = input.wholeJson();
    return whole != null && whole.isJsonObject() && whole.getAsJsonObject().has("log_history");
  }

  @Override
  public RunCurves read(Sniff input, List<String> requested) throws IOException {
    JsonElement history = input.wholeJson().getAsJsonObject().get("log_history");
    if (!history.isJsonArray()) {
      throw new ReportInputException(input.file() + ": \"log_history\" is not a list");
    }
    RunCurves curves = new RunCurves(input.file(), name());
    JsonArray entries = history.getAsJsonArray();
    for (int i = 0; i < entries.size(); i++) {
      String where = input.file() + ": log_history[" + i + "]";
      if (!entries.get(i).isJsonObject()) {
        throw new ReportInputException(where + ": expected an object, found " + entries.get(i));
      }
      JsonObject entry = entries.get(i).getAsJsonObject();
      if (entry.has("train_loss")) {
        continue;
      }
      JsonValues.addEntry(curves, JsonValues.step(entry, where), entry);
    }
    return curves;
  }
}
