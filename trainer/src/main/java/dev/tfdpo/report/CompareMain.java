package dev.tfdpo.report;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * {@code scripts/compare.sh RUN_A RUN_B [--metrics M,...] [--tolerance SPEC] [--out DIR]}: compares two
 * runs' curves step by step, across frameworks (formats and name mapping in {@code trainer/REPORTS.md}).
 * Prints a table per metric and a verdict; writes {@code comparison.json} and one overlay PNG per metric
 * into DIR (default {@code compare-A-vs-B/} next to RUN_A, never the current directory). Exit status: 0 all metrics agree, 1 some
 * metric differs, 2 unusable input or arguments (message on stderr).
 */
public final class CompareMain {

  /** Exit status: every compared metric within tolerance. */
  public static final int AGREE = 0;
  /** Exit status: at least one metric outside tolerance. */
  public static final int DIFFER = 1;
  /** Exit status: an input or argument cannot be used, or the outputs cannot be written. */
  public static final int UNUSABLE = 2;

  static final String USAGE = "usage: compare.sh RUN_A RUN_B [--metrics M1,M2,...] [--tolerance SPEC] "
      + "[--out DIR]\n"
      + "  RUN_A, RUN_B  a run directory or a metrics.jsonl, TRL curve.jsonl, trainer_state.json,\n"
      + "                TRL {\"steps\": [...]} JSON, MindSpeed baseline JSON, TensorBoard/W&B CSV,\n"
      + "                or TensorBoard event file(s)\n"
      + "  --metrics     metrics to compare (any framework's spelling; 'rewards/*' globs); default: the\n"
      + "                common ones of loss, grad_norm, learning_rate, rewards/*, logps/*\n"
      + "  --tolerance   [METRIC=]LIMIT,... with LIMIT X (abs or rel), abs:X, rel:X or abs:X+rel:Y;\n"
      + "                default loss abs 1e-4, learning_rate rel 1e-3, others rel 1e-3 or abs 2e-5\n"
      + "  --out DIR     where comparison.json and the PNGs go (default: compare-A-vs-B next to RUN_A)\n"
      + "exit status: 0 all metrics agree, 1 some metric differs, 2 unusable input";

  private CompareMain() {}

  /** Entry point; exits with the status of {@link #run}. */
  public static void main(String[] args) {
    dev.tfdpo.cli.Cli.main("compare", args, a -> run(a, System.out, System.err));
  }

  /** Runs the tool; returns {@link #AGREE}, {@link #DIFFER} or {@link #UNUSABLE}. */
  public static int run(String[] args, PrintStream out, PrintStream err) {
    List<Path> runs = new ArrayList<>();
    List<MetricPattern> metrics = List.of();
    Tolerances tolerances = Tolerances.defaults();
    Path outDir = null;
    try {
      for (int i = 0; i < args.length; i++) {
        String arg = args[i];
        switch (arg) {
          case "-h":
          case "--help":
            out.println(USAGE);
            return AGREE;
          case "--metrics":
            metrics = parseMetrics(value(args, ++i, arg));
            break;
          case "--tolerance":
            tolerances = Tolerances.parse(value(args, ++i, arg));
            break;
          case "--out":
            outDir = Path.of(value(args, ++i, arg));
            break;
          default:
            if (arg.startsWith("-") && arg.length() > 1) {
              throw new ReportInputException("unknown option " + arg + "\n" + USAGE);
            }
            runs.add(Path.of(arg));
        }
      }
      if (runs.size() != 2) {
        throw new ReportInputException("expected two runs, got " + runs.size() + "\n" + USAGE);
      }
      if (outDir == null) {
        outDir = besideInputs(runs.get(0), runs.get(1));
      }
      List<String> requested = metrics.stream().filter(p -> !p.isGlob()).map(MetricPattern::text).toList();
      RunCurves a = CurveFormats.read(runs.get(0), requested);
      RunCurves b = CurveFormats.read(runs.get(1), requested);
      RunComparison comparison = RunComparison.compare(a, b, metrics, tolerances);
      CompareReport.printTable(comparison, out);
      Path json = CompareReport.writeJson(comparison, outDir);
      List<Path> pngs = CompareReport.writeOverlays(comparison, outDir);
      out.println("wrote " + json + " and " + pngs.size() + " overlay PNGs in " + outDir);
      return comparison.passed() ? AGREE : DIFFER;
    } catch (ReportInputException unusable) {
      err.println("error: " + unusable.getMessage());
      return UNUSABLE;
    } catch (IOException failed) {
      err.println("error: " + failed.getMessage());
      return UNUSABLE;
    }
  }

  /**
   * {@code compare-A-vs-B} in the directory holding RUN_A (its parent when it is a run directory), A and
   * B the runs' names: directory names, or file names without extension (their directories' names when
   * both files have the same name, as two {@code metrics.jsonl} do).
   */
  static Path besideInputs(Path a, Path b) {
    Path absA = a.toAbsolutePath().normalize();
    Path absB = b.toAbsolutePath().normalize();
    String nameA = stem(absA);
    String nameB = stem(absB);
    if (nameA.equals(nameB) && absA.getParent() != null && absB.getParent() != null
        && !java.nio.file.Files.isDirectory(absA)) {
      nameA = absA.getParent().getFileName().toString();
      nameB = absB.getParent().getFileName().toString();
    }
    Path home = absA.getParent() != null ? absA.getParent() : absA;
    return home.resolve("compare-" + nameA + "-vs-" + nameB);
  }

  private static String stem(Path p) {
    String name = p.getFileName() == null ? "run" : p.getFileName().toString();
    int dot = name.indexOf('.');
    return java.nio.file.Files.isDirectory(p) || dot <= 0 ? name : name.substring(0, dot);
  }

  private static List<MetricPattern> parseMetrics(String list) {
    List<MetricPattern> patterns = new ArrayList<>();
    for (String name : list.split(",")) {
      patterns.add(MetricPattern.parse(name));
    }
    return patterns;
  }

  private static String value(String[] args, int index, String option) {
    if (index >= args.length) {
      throw new ReportInputException(option + " needs a value\n" + USAGE);
    }
    return args[index];
  }
}
