package dev.tfdpo.data;

import dev.tfdpo.tokenizer.Message;
import java.util.List;

/** One data-set row after format parsing, before tokenization. */
public sealed interface Example {

  /** True for unpaired (KTO) rows. */
  default boolean unpaired() {
    return this instanceof TextUnpaired || this instanceof ChatUnpaired;
  }

  /** A plain-text pair (TRL standard): tokenized with TRL's plain rule, no chat template. */
  record TextPair(String prompt, String chosen, String rejected) implements Example {}

  /** A conversation with two alternative endings: rendered with a chat template. */
  record ChatPair(List<Message> prompt, List<Message> chosen, List<Message> rejected) implements Example {}

  /** Already tokenized ids. */
  record Ids(int[] prompt, int[] chosen, int[] rejected) implements Example {}

  /** A plain-text completion judged desirable ({@code label} true) or not. */
  record TextUnpaired(String prompt, String completion, boolean label) implements Example {}

  /** A conversation ending judged desirable ({@code label} true) or not. */
  record ChatUnpaired(List<Message> prompt, List<Message> completion, boolean label) implements Example {}
}
