package dev.tfdpo.data;

import dev.tfdpo.tokenizer.Tokenizer;
import java.util.Arrays;

/**
 * TRL's rules for turning text into a {@link TokenizedPair} (see the project's notes on TRL 1.13).
 *
 * <p>Plain text: the EOS string is appended to each completion unless already there;
 * {@code prompt_ids = tok(prompt)} and {@code completion_ids = tok(prompt + completion)[len(prompt_ids):]},
 * both with the tokenizer's own special tokens (BOS). Tokenizing the concatenation, not the parts,
 * matters: the boundary between prompt and completion may merge differently.
 *
 * <p>Rendered conversations: the chat template already wrote every special token, so both renderings are
 * tokenized without added ones and the completion is again the tail after the prompt's ids.
 */
public final class TrlTokenization {

  private final Tokenizer tokenizer;
  private final String eos;

  /** Rules for {@code tokenizer}; plain-text rows need it to have an EOS token. */
  public TrlTokenization(Tokenizer tokenizer) {
    this.tokenizer = tokenizer;
    this.eos = tokenizer.specialTokens().eos();
  }

  /** The tokenizer in use. */
  public Tokenizer tokenizer() {
    return tokenizer;
  }

  /** Prompt ids of a plain-text prompt. */
  public int[] prompt(String prompt) {
    return tokenizer.encodeWithSpecialTokens(prompt);
  }

  /** Completion ids of a plain-text completion after {@code promptIds} (from {@link #prompt}). */
  public int[] completion(String prompt, int[] promptIds, String completion) {
    if (eos == null) {
      throw new IllegalStateException(
          "the tokenizer has no EOS token, which plain-text completions need; set eos_token in "
              + "tokenizer_config.json");
    }
    String text = completion.endsWith(eos) ? completion : completion + eos;
    return tail(tokenizer.encodeWithSpecialTokens(prompt + text), promptIds.length);
  }

  /** A plain-text pair. */
  public TokenizedPair pair(long index, String prompt, String chosen, String rejected) {
    int[] p = prompt(prompt);
    return new TokenizedPair(index, p, completion(prompt, p, chosen), completion(prompt, p, rejected));
  }

  /** Ids of a rendered prompt (its template wrote the special tokens). */
  public int[] renderedPrompt(String rendered) {
    return tokenizer.encode(rendered);
  }

  /** Completion ids from a rendered prompt+completion whose prompt part gave {@code promptIds}. */
  public int[] renderedCompletion(String renderedFull, int[] promptIds) {
    return tail(tokenizer.encode(renderedFull), promptIds.length);
  }

  private static int[] tail(int[] full, int from) {
    return from >= full.length ? new int[0] : Arrays.copyOfRange(full, from, full.length);
  }
}
