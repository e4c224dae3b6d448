package dev.tfdpo.trainer;

import java.io.PrintStream;
import java.time.Duration;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarStyle;

/**
 * Progress on the console: a progress bar on a terminal, otherwise one line per logged step with
 * step/total, loss, reward accuracy, tokens/s and ETA (what batch logs and CI keep).
 */
final class Console implements AutoCloseable {

  private final PrintStream out;
  private final long total;
  private final ProgressBar bar;

  Console(PrintStream out, long total, boolean terminal) {
    this.out = out;
    this.total = total;
    this.bar = terminal
        ? new ProgressBarBuilder().setTaskName("DPO").setInitialMax(total)
            .setStyle(ProgressBarStyle.ASCII).setUpdateIntervalMillis(250).continuousUpdate().build()
        : null;
  }

  /** Reports a logged step. */
  void logged(long step, double loss, String label, Double headline, double tokensPerSecond, Duration eta) {
    // A metric the interval's micro-batches did not have (KTO's margin without both classes) is absent.
    String value = headline == null ? "n/a" : String.format("%.3f", headline);
    if (bar != null) {
      bar.stepTo(step);
      bar.setExtraMessage(String.format("loss %.4f %s %s %,.0f tok/s", loss, label, value, tokensPerSecond));
      return;
    }
    out.printf("step %d/%d | loss %.4f | %s %s | %,.0f tok/s | ETA %s%n",
        step, total, loss, label, value, tokensPerSecond, format(eta));
  }

  /** A one-off event (a saved checkpoint). */
  void message(String text) {
    if (bar != null) {
      bar.setExtraMessage(text);
      return;
    }
    out.println(text);
  }

  static String format(Duration d) {
    if (d == null) {
      return "--";
    }
    long s = Math.max(0, d.getSeconds());
    return s >= 3600
        ? String.format("%d:%02d:%02d", s / 3600, (s / 60) % 60, s % 60)
        : String.format("%d:%02d", s / 60, s % 60);
  }

  @Override
  public void close() {
    if (bar != null) {
      bar.close();
    }
  }
}
