package dev.tfdpo.report;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.knowm.xchart.XYChart;

/**
 * PNG charts of a run's metrics ({@value Charts#WIDTH}×{@value Charts#HEIGHT} pixels each), drawn with
 * XChart without a display.
 */
public final class Plots {

  /**
   * One chart: the metrics it needs (the chart is skipped unless all are present) and the ones it adds
   * when present.
   */
  record ChartSpec(String file, String title, String yLabel, List<String> required, List<String> optional) {}

  /** The charts {@link #writeAll} draws, in order. */
  static final List<ChartSpec> CHARTS = List.of(
      new ChartSpec("loss.png", "DPO loss", "loss", List.of("loss"), List.of("eval_loss")),
      new ChartSpec("rewards.png", "Rewards", "reward",
          List.of("rewards/chosen", "rewards/rejected"), List.of()),
      new ChartSpec("rewards_margins.png", "Reward margin (chosen - rejected)", "margin",
          List.of("rewards/margins"), List.of()),
      new ChartSpec("rewards_accuracies.png", "Reward accuracy", "fraction of pairs",
          List.of("rewards/accuracies"), List.of()),
      new ChartSpec("grad_norm.png", "Gradient norm (before clipping)", "L2 norm",
          List.of("grad_norm"), List.of()),
      new ChartSpec("learning_rate.png", "Learning rate", "learning rate",
          List.of("learning_rate"), List.of()),
      new ChartSpec("eval_loss.png", "Evaluation loss", "loss", List.of("eval_loss"), List.of()));

  /** What {@link #writeAll} did: the PNGs written and, per chart skipped, why. */
  public record Result(List<Path> written, List<String> skipped) {}

  private Plots() {}

  /**
   * Writes the loss curve of a run (training loss, and evaluation loss when logged) to {@code outPng};
   * the trainer calls this at the end of training with {@code output_dir/metrics.jsonl}. Any input
   * {@link CurveFormats} reads is accepted.
   *
   * @throws ReportInputException when the file is missing, unreadable, or has no finite {@code loss}
   * @throws IOException when reading or writing fails
   */
  public static void writeLossChart(Path metricsJsonl, Path outPng) throws IOException {
    RunCurves curves = CurveFormats.read(metricsJsonl, List.of());
    XYChart chart = chart(CHARTS.get(0), curves);
    if (chart == null) {
      throw new ReportInputException(metricsJsonl + ": no finite \"loss\" value to plot");
    }
    Charts.writePng(outPng, chart);
  }

  /**
   * Writes every chart of {@link #CHARTS} whose metrics {@code curves} has into {@code outDir}.
   *
   * @throws IOException when writing fails
   */
  public static Result writeAll(RunCurves curves, Path outDir) throws IOException {
    List<Path> written = new ArrayList<>();
    List<String> skipped = new ArrayList<>();
    for (ChartSpec spec : CHARTS) {
      List<String> missing = spec.required().stream().filter(m -> !curves.has(m)).toList();
      if (!missing.isEmpty()) {
        skipped.add(spec.file() + ": no " + String.join(", ", missing) + " in " + curves.source());
        continue;
      }
      XYChart chart = chart(spec, curves);
      if (chart == null) {
        skipped.add(spec.file() + ": only non-finite values");
        continue;
      }
      Path out = outDir.resolve(spec.file());
      Charts.writePng(out, chart);
      written.add(out);
    }
    return new Result(written, skipped);
  }

  private static XYChart chart(ChartSpec spec, RunCurves curves) {
    List<Charts.Line> lines = new ArrayList<>();
    for (String metric : spec.required()) {
      lines.add(new Charts.Line(metric, curves.series(metric)));
    }
    for (String metric : spec.optional()) {
      if (curves.has(metric)) {
        lines.add(new Charts.Line(metric, curves.series(metric)));
      }
    }
    return Charts.lineChart(spec.title(), spec.yLabel(), lines, Charts.WIDTH, Charts.HEIGHT);
  }
}
