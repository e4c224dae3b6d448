package dev.tfdpo.report;

import java.io.BufferedReader;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * CSV exported from TensorBoard or Weights &amp; Biases. The step column is the first present of
 * {@code train/global_step} (Hugging Face's step in W&amp;B, which differs from W&amp;B's own
 * {@code _step} once evaluation is logged), {@code step}, {@code Step}, {@code _step}. Other columns are
 * metrics, except W&amp;B bookkeeping ({@code _runtime}, {@code _timestamp}, any {@code _}-prefixed
 * column), {@code Wall time}, and W&amp;B's {@code __MIN}/{@code __MAX} band columns; a W&amp;B panel
 * export's {@code "<run name> - train/loss"} header loses its run-name part. Blank cells are missing
 * values; a column with text in it is not a metric and is skipped.
 *
 * <p>TensorBoard's own export ({@code Wall time,Step,Value}) holds one metric: it is the single
 * {@code --metrics} name when exactly one is given, else the file name ({@code loss.csv}, or TensorBoard's
 * {@code run-<run>-tag-train_loss.csv}) when that names a known metric.
 */
final class CsvCurveFormat implements CurveFormat {

  private static final List<String> STEP_COLUMNS = List.of("train/global_step", "step", "Step", "_step");
  private static final Pattern TENSORBOARD_NAME = Pattern.compile("run-.*-tag-(.+)\\.csv");

  @Override
  public String name() {
    return "csv";
  }

  @Override
  public String expects() {
    return "CSV with a header naming a step column (step, Step, _step or train/global_step)";
  }

  @Override
  public boolean accepts(Sniff input) throws IOException {
    List<String> header = splitLine(input.firstLine());
    return header.size() >= 2 && stepColumn(header) >= 0;
  }

  @Override
  public RunCurves read(Sniff input, List<String> requested) throws IOException {
    List<String[]> rows = new ArrayList<>();
    List<String> header;
    try (BufferedReader in = Files.newBufferedReader(input.file(), StandardCharsets.UTF_8)) {
      header = splitLine(Sniff.stripBom(in.readLine()));
      String line;
      while ((line = in.readLine()) != null) {
        if (!line.isBlank()) {
          rows.add(splitLine(line).toArray(new String[0]));
        }
      }
    }
    int stepColumn = stepColumn(header);
    List<String> metricNames = metricNames(input, header, requested);
    RunCurves curves = new RunCurves(input.file(), name());
    for (int column = 0; column < header.size(); column++) {
      String metric = metricNames.get(column);
      if (column == stepColumn || metric == null || !numericColumn(rows, column)) {
        continue;
      }
      for (int r = 0; r < rows.size(); r++) {
        String[] row = rows.get(r);
        Long step = step(input, row, stepColumn, r + 2);
        Double value = column < row.length ? cell(row[column]) : null;
        if (step != null && value != null) {
          curves.put(metric, step, value);
        }
      }
    }
    return curves;
  }

  /** Canonical metric name per column, null where the column is not a metric. */
  private static List<String> metricNames(Sniff input, List<String> header, List<String> requested) {
    List<String> names = new ArrayList<>();
    boolean tensorBoardExport = header.contains("Wall time") && header.contains("Value");
    for (String column : header) {
      if (tensorBoardExport && column.equals("Value")) {
        names.add(tensorBoardMetric(input, requested));
      } else if (column.startsWith("_") || column.equals("Wall time") || column.endsWith("__MIN")
          || column.endsWith("__MAX")) {
        names.add(null);
      } else {
        int runSeparator = column.lastIndexOf(" - ");
        String bare = runSeparator >= 0 ? column.substring(runSeparator + 3) : column;
        names.add(MetricNames.canonical(bare));
      }
    }
    return names;
  }

  private static String tensorBoardMetric(Sniff input, List<String> requested) {
    if (requested.size() == 1) {
      return requested.get(0);
    }
    Matcher exported = TENSORBOARD_NAME.matcher(input.fileName());
    String stem = exported.matches() ? exported.group(1)
        : input.fileName().replaceFirst("(?i)\\.csv$", "");
    String metric = MetricNames.fromFileStem(stem);
    String base = metric.startsWith("eval_") ? metric.substring("eval_".length()) : metric;
    if (!MetricNames.KNOWN.contains(base)) {
      throw new ReportInputException(input.file() + ": a TensorBoard CSV export (Wall time,Step,Value) "
          + "holds one metric, and the file name does not say which: rename it after the metric "
          + "(e.g. loss.csv, grad_norm.csv) or pass --metrics with exactly one name");
    }
    return metric;
  }

  private static int stepColumn(List<String> header) {
    for (String name : STEP_COLUMNS) {
      int index = header.indexOf(name);
      if (index >= 0) {
        return index;
      }
    }
    return -1;
  }

  private static boolean numericColumn(List<String[]> rows, int column) {
    for (String[] row : rows) {
      if (column < row.length && !row[column].isBlank() && cell(row[column]) == null) {
        return false;
      }
    }
    return true;
  }

  private static Long step(Sniff input, String[] row, int stepColumn, int lineNo) {
    String text = stepColumn < row.length ? row[stepColumn].trim() : "";
    if (text.isEmpty()) {
      return null;
    }
    Double step = cell(text);
    if (step == null || step.isNaN() || step != Math.rint(step)) {
      throw new ReportInputException(input.file() + ":" + lineNo + ": step \"" + text
          + "\" is not a whole number");
    }
    return step.longValue();
  }

  /** A numeric cell's value; null when blank or not a number. */
  private static Double cell(String text) {
    String trimmed = text.trim();
    if (trimmed.isEmpty()) {
      return null;
    }
    switch (trimmed.toLowerCase(Locale.ROOT)) {
      case "nan":
        return Double.NaN;
      case "inf":
      case "infinity":
        return Double.POSITIVE_INFINITY;
      case "-inf":
      case "-infinity":
        return Double.NEGATIVE_INFINITY;
      default:
        break;
    }
    try {
      return Double.parseDouble(trimmed);
    } catch (NumberFormatException notNumber) {
      return null;
    }
  }

  /** Splits one CSV line (RFC 4180 quoting, no line breaks inside fields). */
  static List<String> splitLine(String line) {
    List<String> fields = new ArrayList<>();
    if (line == null) {
      return fields;
    }
    StringBuilder field = new StringBuilder();
    boolean quoted = false;
    for (int i = 0; i < line.length(); i++) {
      char c = line.charAt(i);
      if (quoted) {
        if (c == '"' && i + 1 < line.length() && line.charAt(i + 1) == '"') {
          field.append('"');
          i++;
        } else if (c == '"') {
          quoted = false;
        } else {
          field.append(c);
        }
      } else if (c == '"') {
        quoted = true;
      } else if (c == ',') {
        fields.add(field.toString());
        field.setLength(0);
      } else {
        field.append(c);
      }
    }
    fields.add(field.toString());
    return fields;
  }
}
