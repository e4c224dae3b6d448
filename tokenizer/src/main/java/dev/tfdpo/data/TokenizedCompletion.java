package dev.tfdpo.data;

/**
 * One unpaired (KTO) example as token ids: a prompt and a single completion judged desirable or not.
 *
 * @param index position of the row in its data set (0-based)
 * @param promptIds prompt token ids (BOS first when the tokenizer adds one)
 * @param completionIds completion token ids, EOS included for plain-text rows
 * @param desirable the row's label
 */
public record TokenizedCompletion(long index, int[] promptIds, int[] completionIds, boolean desirable) {}
