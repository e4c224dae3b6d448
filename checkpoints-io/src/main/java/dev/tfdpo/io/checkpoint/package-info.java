/**
 * Crash-safe training checkpoints: {@code output_dir/checkpoint-N/} directories written through a temporary
 * directory and an atomic rename, each carrying a {@code manifest.json} of its files' sizes and SHA-256
 * sums, plus an {@code output_dir/latest} marker naming the newest complete one.
 *
 * <p>{@link dev.tfdpo.io.checkpoint.CheckpointWriter} saves and prunes, {@link
 * dev.tfdpo.io.checkpoint.CheckpointVerifier} checks a directory against its manifest, and {@link
 * dev.tfdpo.io.checkpoint.CheckpointLocator} picks the checkpoint to resume from. Nothing here knows what
 * the files contain. One writer per output directory at a time.
 *
 * <p>May import: {@code dev.tfdpo.io}, Gson, the JDK.
 */
package dev.tfdpo.io.checkpoint;
