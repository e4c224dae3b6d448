package dev.tfdpo.report;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * {@code scripts/plot.sh RUN_DIR [--out DIR]}: PNG charts of a run's metrics (loss, rewards, margins,
 * accuracies, gradient norm, learning rate, evaluation loss) into {@code DIR}, by default
 * {@code RUN_DIR/plots/} (or {@code plots/} next to the file when RUN_DIR is a metrics file). Exit status
 * 0 when at least one chart was written, 2 on unusable input or arguments.
 */
public final class PlotMain {

  static final String USAGE = "usage: plot.sh RUN_DIR|METRICS_FILE [--out DIR]\n"
      + "  RUN_DIR       a run's output_dir (metrics.jsonl, trainer_state.json or runs/ event files)\n"
      + "  METRICS_FILE  any input compare.sh reads (metrics.jsonl, trainer_state.json, CSV, ...)\n"
      + "  --out DIR     where the PNGs go (default: RUN_DIR/plots)";

  private PlotMain() {}

  /** Entry point; exits with the status of {@link #run}. */
  public static void main(String[] args) {
    dev.tfdpo.cli.Cli.main("plot", args, a -> run(a, System.out, System.err));
  }

  /** Runs the tool; returns the exit status (0 success, 2 unusable input or arguments). */
  static int run(String[] args, PrintStream out, PrintStream err) {
    Path input = null;
    Path outDir = null;
    for (int i = 0; i < args.length; i++) {
      String arg = args[i];
      if (arg.equals("-h") || arg.equals("--help")) {
        out.println(USAGE);
        return 0;
      } else if (arg.equals("--out")) {
        if (i + 1 >= args.length) {
          return usageError(err, "--out needs a directory");
        }
        outDir = Path.of(args[++i]);
      } else if (arg.startsWith("-")) {
        return usageError(err, "unknown option " + arg);
      } else if (input == null) {
        input = Path.of(arg);
      } else {
        return usageError(err, "one run at a time; unexpected argument " + arg);
      }
    }
    if (input == null) {
      return usageError(err, "missing RUN_DIR");
    }
    try {
      RunCurves curves = CurveFormats.read(input, List.of());
      Path target = outDir != null ? outDir : defaultOutDir(input);
      Plots.Result result = Plots.writeAll(curves, target);
      for (String skip : result.skipped()) {
        out.println("skipped " + skip);
      }
      if (result.written().isEmpty()) {
        err.println("error: " + curves.describe() + " has none of the plotted metrics "
            + "(loss, rewards/*, grad_norm, learning_rate, eval_loss)");
        return 2;
      }
      for (Path png : result.written()) {
        out.println("wrote " + png);
      }
      return 0;
    } catch (ReportInputException unusable) {
      err.println("error: " + unusable.getMessage());
      return 2;
    } catch (IOException failed) {
      err.println("error: " + failed.getMessage());
      return 2;
    }
  }

  private static Path defaultOutDir(Path input) {
    Path absolute = input.toAbsolutePath();
    Path runDir = Files.isDirectory(absolute) ? absolute : absolute.getParent();
    return runDir.resolve("plots");
  }

  private static int usageError(PrintStream err, String problem) {
    err.println("error: " + problem);
    err.println(USAGE);
    return 2;
  }
}
