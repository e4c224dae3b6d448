/** Tokenizers: SentencePiece models and Hugging Face {@code tokenizer.json}, chosen from a model directory. *
 * <p>May import: the SentencePiece, tokenizers and Jinjava libraries, Gson, and {@code dev.tfdpo.io}'s
 * strict JSON reader. Nothing else of tfdpo.
 */
package dev.tfdpo.tokenizer;
