/**
 * The throughput benchmark behind {@code scripts/bench.sh}: runs the real trainer on a named config in
 * several variants (each a set of {@code --key value} overrides, each in its own JVM), and reports step
 * time, pairs and tokens per second, padding, executed matmul FLOP/s against this machine's measured
 * TensorFlow matmul peak, and peak RSS.
 *
 * <p>May import: {@code dev.tfdpo.trainer} and everything below it. Nothing imports it.
 */
package dev.tfdpo.bench;
