/**
 * Model graphs: a Llama-family decoder built from a Hugging Face {@code config.json} as a static
 * TensorFlow graph, the plumbing that loads weights into its variables and reads them back ({@link
 * dev.tfdpo.graphs.WeightLoader}), the session options every log-prob graph shares, and {@link
 * dev.tfdpo.graphs.GraphScopes}, through which every graph creates its named sub-scopes so that building
 * stays linear in the graph's size, and {@link dev.tfdpo.graphs.RequestedDevices}, which places
 * operations already built (the backward pass of a data-parallel replica), {@link
 * dev.tfdpo.graphs.GrpcCluster}: a TensorFlow gRPC server per process and a session on its target. {@link
 * dev.tfdpo.graphs.LoraAdapters} are LoRA adapters over the model's projections and {@link
 * dev.tfdpo.graphs.QuantizedWeights} a base stored int8 or nf4. The training graph is in {@link dev.tfdpo.graphs.training},
 * the serving graph in {@link dev.tfdpo.graphs.serving}.
 *
 * <p>May import: {@code dev.tfdpo.ops}, {@code dev.tfdpo.io} (weights, {@code config.json}), TensorFlow.
 */
package dev.tfdpo.graphs;
