/**
 * The export command ({@code scripts/export.sh}): {@link dev.tfdpo.export.ModelStateDir} finds what to
 * export (a checkpoint, a run's output directory) and writes it as a Hugging Face model directory through
 * {@link dev.tfdpo.io.hf.HfExport}; {@link dev.tfdpo.export.SavedModelExport} writes a TensorFlow
 * SavedModel from {@link dev.tfdpo.graphs.serving.ServingGraph}; {@link dev.tfdpo.export.ExportMain} is
 * the command line.
 *
 * <p>May import: everything below it ({@code dev.tfdpo.trainer} for a run's files and config, {@code
 * dev.tfdpo.graphs}, {@code dev.tfdpo.io}). Nothing imports it.
 */
package dev.tfdpo.export;
