package dev.tfdpo.data;

import java.util.List;

/** A {@link PairSource} over pairs held in memory. */
public record ListPairSource(List<TokenizedPair> pairs) implements PairSource {

  public ListPairSource {
    pairs = List.copyOf(pairs);
  }

  @Override
  public int size() {
    return pairs.size();
  }

  @Override
  public TokenizedPair get(int position) {
    return pairs.get(position);
  }
}
