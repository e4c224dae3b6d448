/** Tokenizers: SentencePiece models and Hugging Face {@code tokenizer.json}, chosen from a model directory. */
package dev.tfdpo.tokenizer;
