package dev.tfdpo.report;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.NavigableMap;

/**
 * TensorBoard event files (this project's {@code runs/}, Hugging Face's, PyTorch's, TensorFlow's); tags
 * mapped to canonical names ({@code train/loss} → {@code loss}, {@code eval/loss} → {@code eval_loss}).
 */
final class EventFileFormat implements CurveFormat {

  @Override
  public String name() {
    return "tensorboard";
  }

  @Override
  public String expects() {
    return "a TensorBoard event file (name contains \"tfevents\") or a directory holding them";
  }

  @Override
  public boolean accepts(Sniff input) {
    return TensorBoardReader.isEventFile(input.file());
  }

  @Override
  public RunCurves read(Sniff input, List<String> requested) throws IOException {
    return fromScalars(input.file(), TensorBoardReader.readScalars(input.file()));
  }

  /** Curves of the event files of a file or directory. */
  RunCurves readPath(Path fileOrDir) throws IOException {
    return fromScalars(fileOrDir, TensorBoardReader.readScalars(fileOrDir));
  }

  private RunCurves fromScalars(Path source,
      Map<String, NavigableMap<Long, Double>> scalars) {
    RunCurves curves = new RunCurves(source, name());
    for (Map.Entry<String, NavigableMap<Long, Double>> tag : scalars.entrySet()) {
      String metric = MetricNames.canonical(tag.getKey());
      tag.getValue().forEach((step, value) -> curves.put(metric, step, value));
    }
    return curves;
  }
}
