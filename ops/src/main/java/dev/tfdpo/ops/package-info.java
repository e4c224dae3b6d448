/**
 * Graph building blocks shared by the model graphs and the trainer: normalisation, rotary embeddings,
 * the in-graph attention mask, completion log-probabilities, preference losses, the optimizer and its
 * learning-rate schedule; and the lean gradients ({@code LeanGradients}, {@code RmsNorm}, {@code GatedSilu},
 * {@code AttentionBlock}, {@code Bf16Projection}) that rebuild cheap forward tensors in the backward pass
 * instead of keeping them.
 * Every function takes the graph's {@code Ops} as {@code tf} and builds ops; none runs anything. Imports TensorFlow only.
 */
package dev.tfdpo.ops;
