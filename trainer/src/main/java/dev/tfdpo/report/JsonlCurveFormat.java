package dev.tfdpo.report;

import com.google.gson.JsonElement;
import com.google.gson.JsonParseException;
import com.google.gson.JsonParser;
import java.io.BufferedReader;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.List;

/**
 * This project's {@code metrics.jsonl} and TRL golden {@code curve.jsonl}: one JSON object per line with
 * an integer {@code step}; every top-level number is a metric, nested objects and lists
 * ({@code micro_batches}, {@code micro_metrics}) are ignored.
 */
final class JsonlCurveFormat implements CurveFormat {

  @Override
  public String name() {
    return "metrics.jsonl";
  }

  @Override
  public String expects() {
    return "JSON lines, each an object with \"step\" (metrics.jsonl, TRL curve.jsonl)";
  }

  @Override
  public boolean accepts(Sniff input) throws IOException {
    JsonElement first = input.firstLineJson();
    return first != null && first.isJsonObject() && first.getAsJsonObject().has("step");
  }

  @Override
  public RunCurves read(Sniff input, List<String> requested) throws IOException {
    RunCurves curves = new RunCurves(input.file(), name());
    try (BufferedReader in = Files.newBufferedReader(input.file(), StandardCharsets.UTF_8)) {
      String line;
      int lineNo = 0;
      while ((line = in.readLine()) != null) {
        lineNo++;
        if (line.isBlank()) {
          continue;
        }
        String where = input.file() + ":" + lineNo;
        JsonElement parsed;
        try {
          parsed = JsonParser.parseString(Sniff.stripBom(line));
        } catch (JsonParseException malformed) {
          throw new ReportInputException(where + ": not valid JSON (" + malformed.getMessage()
              + "); a run killed mid-write leaves a partial last line: delete it");
        }
        if (!parsed.isJsonObject()) {
          throw new ReportInputException(where + ": expected a JSON object, found " + abbreviate(line));
        }
        long step = JsonValues.step(parsed.getAsJsonObject(), where);
        JsonValues.addEntry(curves, step, parsed.getAsJsonObject());
      }
    }
    return curves;
  }

  private static String abbreviate(String text) {
    return text.length() <= 60 ? text : text.substring(0, 57) + "...";
  }
}
