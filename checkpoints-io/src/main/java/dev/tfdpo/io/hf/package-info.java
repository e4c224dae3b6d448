/**
 * The Hugging Face side of a checkpoint: {@code config.json}, the table of tensor names that maps graph
 * variables to Hugging Face tensors, and the writer of a Hugging Face model directory ({@link
 * dev.tfdpo.io.hf.HfExport} over {@link dev.tfdpo.io.hf.HfModelWriter}).
 *
 * <p>May import: {@code dev.tfdpo.io} and its subpackages, Gson. No TensorFlow graph code.
 */
package dev.tfdpo.io.hf;
