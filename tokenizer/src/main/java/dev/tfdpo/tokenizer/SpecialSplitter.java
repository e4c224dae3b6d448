package dev.tfdpo.tokenizer;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;

/**
 * Cuts text at special-token strings, the way Hugging Face's added-token extraction does, so that a
 * SentencePiece model (whose own encoder spells {@code "</s>"} out as characters) gives the same ids.
 * The longest match wins at each position; the text between matches is encoded on its own.
 */
final class SpecialSplitter {

  /** A piece of text: either ordinary text ({@code id < 0}) or one special token. */
  record Segment(String text, int id) {}

  private final List<Map.Entry<String, Integer>> specials;

  SpecialSplitter(Map<String, Integer> specials) {
    this.specials = new ArrayList<>(specials.entrySet());
    this.specials.removeIf(e -> e.getKey().isEmpty());
    this.specials.sort(Comparator.comparingInt((Map.Entry<String, Integer> e) -> -e.getKey().length()));
  }

  List<Segment> split(String text) {
    List<Segment> out = new ArrayList<>();
    int start = 0;
    int i = 0;
    while (i < text.length()) {
      Map.Entry<String, Integer> hit = match(text, i);
      if (hit == null) {
        i++;
        continue;
      }
      if (i > start) {
        out.add(new Segment(text.substring(start, i), -1));
      }
      out.add(new Segment(hit.getKey(), hit.getValue()));
      i += hit.getKey().length();
      start = i;
    }
    if (start < text.length()) {
      out.add(new Segment(text.substring(start), -1));
    }
    return out;
  }

  private Map.Entry<String, Integer> match(String text, int at) {
    for (Map.Entry<String, Integer> e : specials) {
      if (text.startsWith(e.getKey(), at)) {
        return e;
      }
    }
    return null;
  }
}
