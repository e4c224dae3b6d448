/**
 * Model graphs: a Llama-family decoder built from a Hugging Face {@code config.json} as a static
 * TensorFlow graph, and the plumbing that loads weights into its variables and reads them back.
 */
package dev.tfdpo.graphs;
