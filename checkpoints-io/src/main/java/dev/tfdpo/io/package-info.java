/**
 * Reading and writing model files and training checkpoints. The subpackages hold the safetensors format
 * ({@link dev.tfdpo.io.safetensors}) and crash-safe checkpoint directories ({@link dev.tfdpo.io.checkpoint});
 * {@link dev.tfdpo.io.DurableFiles} holds the fsync and rename steps both rely on.
 */
package dev.tfdpo.io;
