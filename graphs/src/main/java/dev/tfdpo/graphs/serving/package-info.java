/**
 * The serving graph written into a SavedModel: {@code log_probs}, {@code score} and {@code reward}
 * signatures over padded prompt and completion ids, with the training graph's session options so its
 * numbers match the trainer's.
 *
 * <p>May import: {@code dev.tfdpo.graphs}, {@code dev.tfdpo.ops}, {@code dev.tfdpo.io}, TensorFlow.
 */
package dev.tfdpo.graphs.serving;
