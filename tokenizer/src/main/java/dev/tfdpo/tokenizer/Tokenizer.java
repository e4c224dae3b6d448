package dev.tfdpo.tokenizer;

/**
 * A text tokenizer as the data pipeline needs it: text to ids and back, plus the special ids.
 *
 * <p>Special-token strings written in the text (such as {@code "</s>"} or a chat template's
 * {@code "<|im_start|>"}) map to their ids when the vocabulary holds them as special tokens, as Hugging
 * Face tokenizers do; TRL relies on this when it appends the EOS string to completions.
 *
 * <p>Ids absent from the tokenizer ({@link #bosId()} and friends) are {@code -1}.
 */
public interface Tokenizer extends AutoCloseable {

  /** Token ids of {@code text} without any added BOS/EOS. */
  int[] encode(String text);

  /**
   * Token ids of {@code text} with the special tokens the tokenizer adds by itself (BOS for Llama), as
   * Hugging Face's {@code tokenizer(text)} returns them.
   */
  int[] encodeWithSpecialTokens(String text);

  /** Text of {@code ids}, special tokens left out; every id must be below {@link #vocabSize()}. */
  String decode(int[] ids);

  /**
   * The vocabulary string of {@code id}.
   *
   * @throws IllegalArgumentException when {@code id} is outside {@code [0, vocabSize())}
   */
  String token(int id);

  /** The id of the vocabulary entry {@code token}, or {@code -1} when there is none. */
  int id(String token);

  /** Number of ids (the model's embedding rows must be at least this many). */
  int vocabSize();

  /** The special tokens and their ids. */
  SpecialTokens specialTokens();

  /** Which implementation this is, for logs and the preprocessed-file header. */
  String backend();

  default int bosId() {
    return specialTokens().bosId();
  }

  default int eosId() {
    return specialTokens().eosId();
  }

  default int padId() {
    return specialTokens().padId();
  }

  default int unkId() {
    return specialTokens().unkId();
  }

  /** Releases the native tokenizer. */
  @Override
  void close();

  /** Throws the range error {@link #token(int)} and {@link #decode(int[])} promise. */
  static void checkId(int id, int vocabSize) {
    if (id < 0 || id >= vocabSize) {
      throw new IllegalArgumentException(
          "token id " + id + " is outside the vocabulary [0, " + vocabSize + ")");
    }
  }
}
