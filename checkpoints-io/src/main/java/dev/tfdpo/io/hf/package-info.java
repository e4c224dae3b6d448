/**
 * The Hugging Face side of a checkpoint: {@code config.json} and the table of tensor names that maps
 * graph variables to Hugging Face tensors.
 */
package dev.tfdpo.io.hf;
