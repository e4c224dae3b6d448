package dev.tfdpo.tokenizer;

/**
 * Special tokens of a tokenizer: their strings (null when absent) and ids ({@code -1} when absent).
 *
 * @param bos beginning-of-sequence string
 * @param eos end-of-sequence string (TRL appends it to plain-text completions)
 * @param unk unknown-token string
 * @param pad padding string; Llama tokenizers usually have none and trainers pad with EOS
 * @param bosId id of {@code bos}
 * @param eosId id of {@code eos}
 * @param unkId id of {@code unk}
 * @param padId id of {@code pad}
 */
public record SpecialTokens(
    String bos, String eos, String unk, String pad, int bosId, int eosId, int unkId, int padId) {}
