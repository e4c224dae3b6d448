/**
 * Graph building blocks shared by the model graphs and the trainer: normalisation, rotary embeddings,
 * the in-graph attention mask, completion log-probabilities, preference losses and the optimizer.
 * Every function takes the graph's {@code Ops} as {@code tf} and builds ops; none runs anything.
 */
package dev.tfdpo.ops;
