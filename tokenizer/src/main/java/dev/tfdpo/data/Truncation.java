package dev.tfdpo.data;

import java.util.Arrays;
import java.util.Optional;

/** Length limits on tokenized pairs. */
public final class Truncation {

  private Truncation() {}

  /**
   * TRL's {@code keep_start}: a pair whose prompt alone has {@code maxLength} tokens or more is dropped;
   * otherwise each of {@code prompt + chosen} and {@code prompt + rejected} keeps its first
   * {@code maxLength} tokens, so the completion's tail (EOS included) is cut first.
   */
  public static Optional<TokenizedPair> keepStart(TokenizedPair pair, int maxLength) {
    int prompt = pair.promptIds().length;
    if (prompt >= maxLength) {
      return Optional.empty();
    }
    int room = maxLength - prompt;
    return Optional.of(
        new TokenizedPair(
            pair.index(),
            pair.promptIds(),
            head(pair.chosenIds(), room),
            head(pair.rejectedIds(), room)));
  }

  private static int[] head(int[] ids, int n) {
    return ids.length <= n ? ids : Arrays.copyOf(ids, n);
  }
}
