package dev.tfdpo.io;

import java.util.Collection;
import java.util.Comparator;
import java.util.List;

/** "Did you mean" suggestions: the known names nearest to a misspelt one by edit distance. */
public final class Names {

  private Names() {}

  /** The first of {@code known} (in its order) at the smallest edit distance from {@code wanted}. */
  public static String closest(String wanted, Collection<String> known) {
    String best = null;
    int bestDistance = Integer.MAX_VALUE;
    for (String k : known) {
      int d = editDistance(wanted, k);
      if (d < bestDistance) {
        bestDistance = d;
        best = k;
      }
    }
    return best;
  }

  /** The {@code limit} names of {@code known} nearest to {@code wanted}, nearest first, ties by name. */
  public static List<String> nearest(String wanted, Collection<String> known, int limit) {
    return known.stream()
        .sorted(Comparator.comparingInt((String n) -> editDistance(wanted, n)).thenComparing(n -> n))
        .limit(limit)
        .toList();
  }

  /** Levenshtein distance: insertions, deletions and substitutions, each costing 1. */
  public static int editDistance(String a, String b) {
    int[] previous = new int[b.length() + 1];
    int[] current = new int[b.length() + 1];
    for (int j = 0; j <= b.length(); j++) {
      previous[j] = j;
    }
    for (int i = 1; i <= a.length(); i++) {
      current[0] = i;
      for (int j = 1; j <= b.length(); j++) {
        int substitution = previous[j - 1] + (a.charAt(i - 1) == b.charAt(j - 1) ? 0 : 1);
        current[j] = Math.min(substitution, Math.min(previous[j], current[j - 1]) + 1);
      }
      int[] swap = previous;
      previous = current;
      current = swap;
    }
    return previous[b.length()];
  }
}
