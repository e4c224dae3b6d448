/**
 * Export of a trained policy: {@link dev.tfdpo.export.ModelStateDir} finds what to export (a checkpoint,
 * a run's output directory), {@link dev.tfdpo.export.HfExport} writes a Hugging Face model directory
 * (also used for the model at the end of training), {@link dev.tfdpo.export.SavedModelExport} a
 * TensorFlow SavedModel with {@code log_probs}, {@code score} and {@code reward} signatures, and
 * {@link dev.tfdpo.export.ExportMain} is {@code scripts/export.sh}.
 */
package dev.tfdpo.export;
