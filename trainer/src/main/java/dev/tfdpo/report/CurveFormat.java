package dev.tfdpo.report;

import java.io.IOException;
import java.util.List;

/** One input format of the report tools: a detector and a reader. */
interface CurveFormat {

  /** Short name shown in messages and in {@code comparison.json}. */
  String name();

  /** What the format looks like, for the "unknown format" message. */
  String expects();

  /** Whether {@code input} is in this format (cheap checks first; never throws on foreign content). */
  boolean accepts(Sniff input) throws IOException;

  /**
   * Reads the curves under canonical metric names.
   *
   * @param requested the metrics the user asked for (canonical names, maybe empty); only formats that
   *     cannot name their metric themselves use it
   * @throws ReportInputException when the content is malformed (naming file, line or entry)
   */
  RunCurves read(Sniff input, List<String> requested) throws IOException;
}
