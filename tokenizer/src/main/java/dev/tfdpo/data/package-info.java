/**
 * Preference data: reading data sets, turning rows into {@link dev.tfdpo.data.TokenizedPair}s and
 * serving them to the trainer through {@link dev.tfdpo.data.PairSource}.
 */
package dev.tfdpo.data;
