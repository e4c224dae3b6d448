/**
 * Preference data: reading data sets, turning rows into {@link dev.tfdpo.data.TokenizedPair}s and
 * serving them to the trainer through {@link dev.tfdpo.data.PairSource}.
 *
 * <p>May import: {@code dev.tfdpo.tokenizer}, {@code dev.tfdpo.io} (its strict JSON reader), Gson. No
 * TensorFlow.
 */
package dev.tfdpo.data;
