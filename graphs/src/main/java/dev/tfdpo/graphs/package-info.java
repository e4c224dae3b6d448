/**
 * Model graphs: a Llama-family decoder built from a Hugging Face {@code config.json} as a static
 * TensorFlow graph, and the plumbing that loads weights into its variables and reads them back
 * ({@link dev.tfdpo.graphs.WeightLoader}, streaming from safetensors files), and {@link
 * dev.tfdpo.graphs.GraphScopes}, through which every graph creates its named sub-scopes so that building
 * stays linear in the graph's size.
 */
package dev.tfdpo.graphs;
