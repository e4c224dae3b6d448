/**
 * Reporting around a training run: TensorBoard event files ({@link dev.tfdpo.report.TensorBoardWriter},
 * {@link dev.tfdpo.report.TensorBoardReader}), PNG charts of {@code metrics.jsonl}
 * ({@link dev.tfdpo.report.Plots}, {@link dev.tfdpo.report.PlotMain}) and the comparison of two runs'
 * curves across frameworks ({@link dev.tfdpo.report.CompareMain}). Input formats are read by one small
 * class each, picked by {@link dev.tfdpo.report.CurveFormats}; see {@code trainer/REPORTS.md}.
 *
 * <p>May import: Gson, XChart and the JDK; nothing else of tfdpo (the trainer calls it, not the reverse).
 */
package dev.tfdpo.report;
