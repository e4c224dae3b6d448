package dev.tfdpo.data;

import java.util.Arrays;

/**
 * Applies {@code max_seq_len}, {@code max_prompt_len} and {@code truncation_mode} to tokenized rows.
 *
 * <p>Unpacked (TRL), {@code max_seq_len} limits each sequence, prompt + completion. Packed (PaddleNLP's
 * {@code [prompt, chosen, rejected]} segment), it limits the whole segment: when the completions do not
 * fit, the room left by the prompt is shared between them in proportion to their lengths, each keeping
 * its start, as PaddleNLP's preference preprocessing does.
 */
final class LengthPolicy {

  /**
   * The outcome for one row.
   *
   * @param prompt the prompt ids to use
   * @param completions the completion ids to use, in input order
   * @param truncated whether anything was cut
   * @param dropReason non-null when the row is dropped ({@code truncation_mode drop})
   */
  record Result(int[] prompt, int[][] completions, boolean truncated, String dropReason) {}

  private final int maxSeq;
  private final int maxPrompt;
  private final TruncationMode mode;
  private final int bos;
  private final boolean packed;

  LengthPolicy(DataOptions o, int bosId) {
    this.maxSeq = o.maxSeqLen();
    this.mode = o.truncationMode();
    // PaddleNLP's defaults keep half the sequence for the prompt (2048 of 4096).
    this.maxPrompt = o.maxPromptLen() > 0 ? o.maxPromptLen()
        : mode == TruncationMode.KEEP_END ? Math.max(1, maxSeq / 2) : 0;
    this.bos = bosId;
    this.packed = o.packing();
  }

  Result apply(int[] prompt, int[]... completions) {
    if (packed && completions.length == 2) {
      return packedPair(prompt, completions[0], completions[1]);
    }
    return switch (mode) {
      case KEEP_START -> keepStart(prompt, completions);
      case KEEP_END -> keepEnd(prompt, completions);
      case DROP -> drop(prompt, completions);
    };
  }

  private Result keepStart(int[] prompt, int[][] completions) {
    if (maxPrompt > 0 && prompt.length > maxPrompt) {
      throw new BadRowException(
          "prompt_too_long",
          "prompt has " + prompt.length + " tokens, over max_prompt_len " + maxPrompt
              + "; raise max_prompt_len, use truncation_mode keep_end, or on_bad_row skip");
    }
    if (prompt.length >= maxSeq) {
      throw new BadRowException(
          "prompt_too_long",
          "prompt has " + prompt.length + " tokens, leaving no room below max_seq_len " + maxSeq
              + " (TRL drops such rows); raise max_seq_len, use truncation_mode keep_end, or on_bad_row skip");
    }
    return cutCompletions(prompt, completions, false);
  }

  private Result keepEnd(int[] prompt, int[][] completions) {
    boolean cut = false;
    int[] p = prompt;
    if (p.length > maxPrompt) {
      // Keep BOS at the front: the model never saw sequences without it.
      boolean keepBos = bos >= 0 && p.length > 0 && p[0] == bos && maxPrompt > 1;
      int[] tail = Arrays.copyOfRange(p, p.length - (maxPrompt - (keepBos ? 1 : 0)), p.length);
      if (keepBos) {
        int[] withBos = new int[tail.length + 1];
        withBos[0] = bos;
        System.arraycopy(tail, 0, withBos, 1, tail.length);
        tail = withBos;
      }
      p = tail;
      cut = true;
    }
    return cutCompletions(p, completions, cut);
  }

  private Result drop(int[] prompt, int[][] completions) {
    if (maxPrompt > 0 && prompt.length > maxPrompt) {
      return new Result(prompt, completions, false, "prompt_over_max_prompt_len");
    }
    for (int[] c : completions) {
      if (prompt.length + c.length > maxSeq) {
        return new Result(prompt, completions, false, "over_max_seq_len");
      }
    }
    return new Result(prompt, completions, false, null);
  }

  private Result cutCompletions(int[] prompt, int[][] completions, boolean alreadyCut) {
    int room = maxSeq - prompt.length;
    boolean cut = alreadyCut;
    int[][] out = new int[completions.length][];
    for (int i = 0; i < completions.length; i++) {
      int[] c = completions[i];
      if (c.length > room) {
        out[i] = Arrays.copyOf(c, room);
        cut = true;
      } else {
        out[i] = c;
      }
    }
    return new Result(prompt, out, cut, null);
  }

  /** The packed rule: one segment prompt + chosen + rejected of at most {@code max_seq_len} tokens. */
  private Result packedPair(int[] prompt, int[] chosen, int[] rejected) {
    int total = prompt.length + chosen.length + rejected.length;
    switch (mode) {
      case DROP -> {
        if (maxPrompt > 0 && prompt.length > maxPrompt) {
          return new Result(prompt, new int[][] {chosen, rejected}, false, "prompt_over_max_prompt_len");
        }
        String reason = total > maxSeq ? "over_max_seq_len" : null;
        return new Result(prompt, new int[][] {chosen, rejected}, false, reason);
      }
      case KEEP_START -> {
        if (maxPrompt > 0 && prompt.length > maxPrompt) {
          throw new BadRowException(
              "prompt_too_long",
              "prompt has " + prompt.length + " tokens, over max_prompt_len " + maxPrompt
                  + "; raise max_prompt_len, use truncation_mode keep_end, or on_bad_row skip");
        }
        return shareRoom(prompt, chosen, rejected, false);
      }
      default -> {
        Result cut = keepEnd(prompt, new int[][] {chosen, rejected});
        int[] p = cut.prompt();
        return shareRoom(p, chosen, rejected, p.length != prompt.length);
      }
    }
  }

  private Result shareRoom(int[] prompt, int[] chosen, int[] rejected, boolean alreadyCut) {
    int room = maxSeq - prompt.length;
    if (room < 2) {
      throw new BadRowException(
          "prompt_too_long",
          "prompt has " + prompt.length + " tokens, leaving less than one token for each completion in a "
              + "packed segment of max_seq_len " + maxSeq + "; raise max_seq_len, lower max_prompt_len, "
              + "or on_bad_row skip");
    }
    if (chosen.length + rejected.length <= room) {
      return new Result(prompt, new int[][] {chosen, rejected}, alreadyCut, null);
    }
    long both = chosen.length + rejected.length;
    int keepChosen = (int) (chosen.length * (long) room / both);
    keepChosen = Math.max(1, Math.min(keepChosen, Math.min(chosen.length, room - 1)));
    int keepRejected = Math.min(rejected.length, room - keepChosen);
    return new Result(prompt,
        new int[][] {Arrays.copyOf(chosen, keepChosen), Arrays.copyOf(rejected, keepRejected)}, true, null);
  }
}
