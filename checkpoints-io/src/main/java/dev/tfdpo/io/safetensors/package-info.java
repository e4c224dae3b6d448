/**
 * The safetensors format of Hugging Face: {@link dev.tfdpo.io.safetensors.SafeTensorsReader} reads single
 * files and sharded model directories through memory maps, {@link dev.tfdpo.io.safetensors.SafeTensorsWriter}
 * writes float tensors as F32, BF16 or F16 in the byte layout transformers produces.
 *
 * <p>A file is an 8-byte little-endian header length {@code N}, {@code N} bytes of UTF-8 JSON mapping tensor
 * names to {@code dtype}, {@code shape} and {@code data_offsets} (relative to the first byte after the
 * header) plus an optional {@code __metadata__} string map, then the data buffer.
 *
 * <p>May import: {@code dev.tfdpo.io}, Gson, the JDK.
 */
package dev.tfdpo.io.safetensors;
