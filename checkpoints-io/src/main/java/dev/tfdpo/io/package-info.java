/**
 * Reading and writing model files and training checkpoints. The subpackages hold the safetensors format
 * ({@link dev.tfdpo.io.safetensors}) and crash-safe checkpoint directories ({@link dev.tfdpo.io.checkpoint});
 * {@link dev.tfdpo.io.DurableFiles} holds the fsync and rename steps both rely on; {@link
 * dev.tfdpo.io.StrictJson} and {@link dev.tfdpo.io.Names} are the strict JSON parser and the "did you mean"
 * suggestions every file reader shares.
 *
 * <p>May import: Gson and the JDK only; every other tfdpo package may import it.
 */
package dev.tfdpo.io;
