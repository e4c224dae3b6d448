package dev.tfdpo.data;

/**
 * One unpaired (KTO) example as token ids: a prompt and a single completion judged desirable or not.
 *
 * @param index position of the row in its data set (0-based)
 * @param promptIds prompt token ids (BOS first when the tokenizer adds one)
 * @param completionIds completion token ids, EOS included for plain-text rows
 * @param desirable the row's label
 * @param fullCompletionIds the completion before {@code max_seq_len} cut it for this row's prompt: TRL's KTO
 *     builds the KL rows of other prompts from the uncut completion and cuts each KL row for its own prompt
 */
public record TokenizedCompletion(long index, int[] promptIds, int[] completionIds, boolean desirable,
    int[] fullCompletionIds) {

  /** A row whose completion was not cut. */
  public TokenizedCompletion(long index, int[] promptIds, int[] completionIds, boolean desirable) {
    this(index, promptIds, completionIds, desirable, completionIds);
  }
}
