package dev.tfdpo.report;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Collectors;

/**
 * Reads a run's curves from any supported input: a file in one of {@link #FORMATS} (the first whose
 * detector accepts it wins), or a run directory resolved through {@link #RUN_DIR_LAYOUT}.
 */
public final class CurveFormats {

  /** Detection order: cheap name checks first; JSON shapes from most to least specific. */
  static final List<CurveFormat> FORMATS = List.of(
      new EventFileFormat(),
      new JsonlCurveFormat(),
      new TrainerStateFormat(),
      new StepsListFormat(),
      new BaselineArraysFormat(),
      new CsvCurveFormat());

  /** What a run directory may hold, in the order looked for. */
  static final List<String> RUN_DIR_LAYOUT = List.of("metrics.jsonl", "trainer_state.json", "runs");

  private CurveFormats() {}

  /**
   * Reads {@code input}: a file in any supported format, or a directory holding {@code metrics.jsonl},
   * {@code trainer_state.json}, a {@code runs/} folder of event files, or event files (first found wins).
   *
   * @param requested metric names the user asked for (canonical; may be empty), used only by formats that
   *     cannot name their metric themselves (TensorBoard's one-metric CSV export)
   * @throws ReportInputException when the input is missing, of no known format, or malformed
   * @throws IOException on a read error or a damaged event file
   */
  public static RunCurves read(Path input, List<String> requested) throws IOException {
    if (!Files.exists(input)) {
      throw new ReportInputException(input + ": no such file or directory");
    }
    if (Files.isDirectory(input)) {
      return readDirectory(input, requested);
    }
    if (Files.size(input) == 0) {
      throw new ReportInputException(input + ": the file is empty (did the run log anything yet?)");
    }
    Sniff sniff = new Sniff(input);
    for (CurveFormat format : FORMATS) {
      if (format.accepts(sniff)) {
        return format.read(sniff, requested);
      }
    }
    String known = FORMATS.stream().map(f -> "  - " + f.name() + ": " + f.expects())
        .collect(Collectors.joining("\n"));
    throw new ReportInputException(input + ": unknown format; supported inputs are\n" + known);
  }

  private static RunCurves readDirectory(Path dir, List<String> requested) throws IOException {
    for (String entry : RUN_DIR_LAYOUT) {
      Path candidate = dir.resolve(entry);
      if (Files.isRegularFile(candidate)) {
        return read(candidate, requested);
      }
      if (Files.isDirectory(candidate)) {
        return new EventFileFormat().readPath(candidate);
      }
    }
    boolean hasEventFiles;
    try (var files = Files.list(dir)) {
      hasEventFiles = files.anyMatch(TensorBoardReader::isEventFile);
    }
    if (hasEventFiles) {
      return new EventFileFormat().readPath(dir);
    }
    throw new ReportInputException(dir + ": not a run directory: it holds none of "
        + String.join(", ", RUN_DIR_LAYOUT) + " and no TensorBoard event file; pass the metrics file itself");
  }
}
