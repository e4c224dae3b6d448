package dev.tfdpo.report;

import com.google.gson.Gson;
import com.google.gson.GsonBuilder;
import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.NavigableMap;
import java.util.TreeMap;
import org.knowm.xchart.XYChart;

/** The outputs of a comparison: the table, {@code comparison.json}, and one overlay PNG per metric. */
final class CompareReport {

  private CompareReport() {}

  /** Prints the per-metric table, notes on uncompared steps, and the verdict line. */
  static void printTable(RunComparison comparison, PrintStream out) {
    out.println("A: " + comparison.a().describe());
    out.println("B: " + comparison.b().describe());
    String format = "%-22s %6s  %-10s %8s  %-10s %8s  %-24s %s%n";
    out.printf(Locale.ROOT, format, "metric", "steps", "max |A-B|", "at step", "max rel", "at step",
        "tolerance", "result");
    for (MetricComparison m : comparison.metrics()) {
      out.printf(Locale.ROOT, format, m.metric(), m.commonSteps(), Format.number(m.maxAbsDeviation()),
          m.maxAbsStep(), Format.number(m.maxRelDeviation()), m.maxRelStep(), m.tolerance().describe(),
          m.passed() ? "PASS" : "FAIL (" + m.failingSteps() + (m.failingSteps() == 1 ? " step" : " steps")
              + ", first " + m.firstFailingStep() + ")");
    }
    for (MetricComparison m : comparison.metrics()) {
      if (m.onlyInA() > 0 || m.onlyInB() > 0) {
        out.println("note: " + m.metric() + ": " + m.onlyInA() + " steps only in A, " + m.onlyInB()
            + " only in B (not compared)");
      }
    }
    out.println(verdict(comparison));
  }

  static String verdict(RunComparison comparison) {
    List<String> failed = comparison.metrics().stream().filter(m -> !m.passed())
        .map(MetricComparison::metric).toList();
    int total = comparison.metrics().size();
    return failed.isEmpty()
        ? "verdict: PASS (all " + total + " metrics agree)"
        : "verdict: FAIL (" + failed.size() + " of " + total + " metrics differ: " + String.join(", ", failed)
            + ")";
  }

  /** Writes {@code comparison.json}: inputs, verdict and every number of the table. */
  static Path writeJson(RunComparison comparison, Path outDir) throws IOException {
    JsonObject root = new JsonObject();
    root.add("run_a", run(comparison.a()));
    root.add("run_b", run(comparison.b()));
    root.addProperty("verdict", comparison.passed() ? "PASS" : "FAIL");
    root.addProperty("rule", "a step passes when |a-b| <= abs or |a-b|/max(|a|,|b|) <= rel");
    JsonArray metrics = new JsonArray();
    for (MetricComparison m : comparison.metrics()) {
      JsonObject entry = new JsonObject();
      entry.addProperty("metric", m.metric());
      entry.addProperty("common_steps", m.commonSteps());
      entry.addProperty("only_in_a", m.onlyInA());
      entry.addProperty("only_in_b", m.onlyInB());
      entry.addProperty("max_abs_deviation", m.maxAbsDeviation());
      entry.addProperty("max_abs_step", m.maxAbsStep());
      entry.addProperty("max_rel_deviation", m.maxRelDeviation());
      entry.addProperty("max_rel_step", m.maxRelStep());
      JsonObject tolerance = new JsonObject();
      tolerance.addProperty("abs", m.tolerance().abs());
      tolerance.addProperty("rel", m.tolerance().rel());
      entry.add("tolerance", tolerance);
      entry.addProperty("failing_steps", m.failingSteps());
      if (m.firstFailingStep() >= 0) {
        entry.addProperty("first_failing_step", m.firstFailingStep());
      }
      entry.addProperty("result", m.passed() ? "PASS" : "FAIL");
      metrics.add(entry);
    }
    root.add("metrics", metrics);
    Gson gson = new GsonBuilder().setPrettyPrinting().create();
    Files.createDirectories(outDir);
    Path file = outDir.resolve("comparison.json");
    Files.writeString(file, gson.toJson(root) + "\n", StandardCharsets.UTF_8);
    return file;
  }

  /**
   * Writes {@code <metric>.png} per metric: both runs on one chart, and below it the difference B − A at
   * the common steps ({@value Charts#WIDTH}×{@value Charts#HEIGHT} plus a {@value Charts#DIFF_HEIGHT}-pixel
   * panel).
   */
  static List<Path> writeOverlays(RunComparison comparison, Path outDir) throws IOException {
    List<Path> written = new ArrayList<>();
    String nameA = "A: " + shortName(comparison.a().source());
    String nameB = "B: " + shortName(comparison.b().source());
    for (MetricComparison m : comparison.metrics()) {
      NavigableMap<Long, Double> seriesA = comparison.a().series(m.metric());
      NavigableMap<Long, Double> seriesB = comparison.b().series(m.metric());
      NavigableMap<Long, Double> difference = new TreeMap<>();
      for (Long step : seriesA.keySet()) {
        if (seriesB.containsKey(step)) {
          difference.put(step, seriesB.get(step) - seriesA.get(step));
        }
      }
      String verdict = m.passed() ? "PASS" : "FAIL";
      XYChart overlay = Charts.lineChart(m.metric() + " (" + verdict + ")", m.metric(),
          List.of(new Charts.Line(nameA, seriesA), new Charts.Line(nameB, seriesB)),
          Charts.WIDTH, Charts.HEIGHT);
      XYChart diff = Charts.lineChart("difference B - A (max |A-B| " + Format.number(m.maxAbsDeviation())
          + ")", "B - A", List.of(new Charts.Line("B - A", difference)), Charts.WIDTH, Charts.DIFF_HEIGHT);
      Path png = outDir.resolve(MetricNames.fileStem(m.metric()) + ".png");
      Charts.writePng(png, overlay, diff);
      written.add(png);
    }
    return written;
  }

  private static JsonObject run(RunCurves curves) {
    JsonObject run = new JsonObject();
    run.addProperty("path", curves.source().toString());
    run.addProperty("format", curves.format());
    return run;
  }

  // Legends show "<parent>/<file>" so two metrics.jsonl files of different runs stay apart.
  private static String shortName(Path source) {
    Path absolute = source.toAbsolutePath().normalize();
    Path parent = absolute.getParent();
    String name = parent != null && parent.getFileName() != null
        ? parent.getFileName() + "/" + absolute.getFileName() : String.valueOf(absolute.getFileName());
    return name.length() <= 48 ? name : "..." + name.substring(name.length() - 45);
  }
}
