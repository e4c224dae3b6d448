package dev.tfdpo.data;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tfdpo.tokenizer.Tokenizer;
import dev.tfdpo.tokenizer.Tokenizers;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Reward-model rows read row by row as TRL 1.13's RewardTrainer prepares them (its {@code add_eos} and
 * {@code tokenize_fn}): prompt + side + EOS as one text with BOS, pre-tokenized ids kept, the margin
 * column, over-long pairs dropped, and each bad row an error naming its line.
 */
class RewardPairsTest {

  static final Path MODEL = Fixtures.get("tiny-llama-a");
  static Tokenizer tok;

  @TempDir
  Path dir;

  @BeforeAll
  static void open() throws Exception {
    tok = Tokenizers.load(MODEL, null);
  }

  @AfterAll
  static void close() {
    tok.close();
  }

  RewardPairs.Loaded load(String jsonl, int maxLength) throws Exception {
    Path f = dir.resolve("rm.jsonl");
    Files.writeString(f, jsonl);
    return RewardPairs.load(f, tok, maxLength);
  }

  @Test
  void textRowsAreOneTextWithBosAndEos() throws Exception {
    RewardPairs.Loaded d = load("""
        {"prompt": "Human: Hi\\n\\nAssistant:", "chosen": " Hello there.", "rejected": " Go away."}
        {"chosen": "Human: Hi\\n\\nAssistant: Hello.</s>", "rejected": "Human: Hi\\n\\nAssistant: No."}
        """, 0);
    assertEquals(2, d.pairs().size());
    assertFalse(d.hasMargin());
    RewardPairs.Pair explicit = d.pairs().get(0);
    // TRL: chosen = prompt + chosen + eos_token, tokenized as one text (the tokenizer adds BOS).
    assertArrayEquals(tok.encodeWithSpecialTokens("Human: Hi\n\nAssistant: Hello there.</s>"), explicit.chosen());
    assertArrayEquals(tok.encodeWithSpecialTokens("Human: Hi\n\nAssistant: Go away.</s>"), explicit.rejected());
    assertEquals(1, explicit.chosen()[0], "BOS");
    assertEquals(2, explicit.chosen()[explicit.chosen().length - 1], "EOS");
    RewardPairs.Pair implicit = d.pairs().get(1);
    // An EOS already at the end is not doubled.
    assertEquals(2, implicit.chosen()[implicit.chosen().length - 1]);
    assertTrue(implicit.chosen()[implicit.chosen().length - 2] != 2, "one EOS only");
    assertEquals(1, implicit.index());
  }

  @Test
  void tokenIdsAndMarginsAreTakenAsTheyAre() throws Exception {
    RewardPairs.Loaded d = load("""
        {"chosen_ids": [1, 5, 6, 2], "rejected_ids": [1, 7, 2], "margin": 0.5}
        {"chosen_ids": [1, 8, 2], "rejected_ids": [1, 9, 10, 11, 2], "margin": -1}
        """, 0);
    assertTrue(d.hasMargin());
    assertArrayEquals(new int[] {1, 5, 6, 2}, d.pairs().get(0).chosen());
    assertEquals(0.5f, d.pairs().get(0).margin());
    assertEquals(-1f, d.pairs().get(1).margin());
  }

  @Test
  void pairsWithASideOverMaxLengthAreDroppedAsTrlFilters() throws Exception {
    RewardPairs.Loaded d = load("""
        {"chosen_ids": [1, 5, 6, 2], "rejected_ids": [1, 7, 2]}
        {"chosen_ids": [1, 8, 2], "rejected_ids": [1, 9, 10, 11, 12, 2]}
        {"chosen_ids": [1, 8, 2, 3], "rejected_ids": [1, 9]}
        """, 4);
    assertEquals(2, d.pairs().size());
    assertEquals(1, d.dropped());
    assertEquals(Arrays.asList(0L, 2L), d.pairs().stream().map(RewardPairs.Pair::index).toList());
  }

  void assertBad(String jsonl, String line, String words) {
    DataFormatException e = assertThrows(DataFormatException.class, () -> load(jsonl, 0));
    assertTrue(e.getMessage().contains(line) && e.getMessage().contains(words), e.getMessage());
  }

  @Test
  void badRowsAreErrorsNamingTheLineAndTheField() {
    String good = "{\"prompt\": \"Q\", \"chosen\": \"a\", \"rejected\": \"b\"}\n";
    assertBad(good + "{\"prompt\": \"Q\", \"chosen\": \"a\"}\n", "2", "missing field 'rejected'");
    assertBad(good + "{\"prompt\": \"Q\", \"chosen\": \"\", \"rejected\": \"b\"}\n", "2", "'chosen' is empty");
    assertBad(good + "{\"prompt\": \"Q\", \"chosen\": 3, \"rejected\": \"b\"}\n", "2", "'chosen' must be a string");
    assertBad(good + "{\"prompt\": \"Q\", \"chosen\": \"a\", \"rejected\": \"b\", \"margin\": 1}\n", "2",
        "the first row has none");
    assertBad("{\"chosen\": \"a\", \"rejected\": \"b\", \"margin\": \"big\"}\n", "1", "'margin' must be a finite number");
    assertBad("{\"chosen\": [{\"role\": \"user\", \"content\": \"a\"}], \"rejected\": \"b\"}\n", "1",
        "is a conversation");
    assertBad("{\"chosen_ids\": [1, -3], \"rejected_ids\": [1]}\n", "1", "must be a token id");
    assertBad("not json\n", "1", "invalid JSON");
  }
}
