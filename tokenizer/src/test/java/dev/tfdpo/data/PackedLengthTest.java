package dev.tfdpo.data;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/**
 * The packed length rule: {@code max_seq_len} limits prompt + chosen + rejected, and a pair longer than
 * that is cut (each completion keeps its start, the room shared in proportion to their lengths, as
 * PaddleNLP) or dropped, by {@code truncation_mode}. Hand-worked on a 8 + 6 + 3 = 17 token pair.
 */
class PackedLengthTest {

  static final Path MODEL = Fixtures.get("tiny-llama-a");
  private static final int[] PROMPT = {1, 10, 11, 12, 13, 14, 15, 16};
  private static final int[] CHOSEN = {20, 21, 22, 23, 24, 2};
  private static final int[] REJECTED = {30, 31, 2};

  private static LengthPolicy.Result apply(int seq, int prompt, TruncationMode mode) {
    DataOptions o = DataOptions.of(Path.of("x"), null).withLengths(seq, prompt, mode).withPacking(true);
    return new LengthPolicy(o, 1).apply(PROMPT, CHOSEN, REJECTED);
  }

  @Test
  void keepStartSharesTheRoomAfterThePrompt() {
    // Room 12 - 8 = 4: chosen floor(6 * 4 / 9) = 2, rejected 2.
    LengthPolicy.Result r = apply(12, 0, TruncationMode.KEEP_START);
    assertArrayEquals(PROMPT, r.prompt());
    assertArrayEquals(new int[] {20, 21}, r.completions()[0]);
    assertArrayEquals(new int[] {30, 31}, r.completions()[1]);
    assertTrue(r.truncated());
    // Fits exactly: untouched. Unpacked, 12 would have fit each sequence (8 + 6 = 14 > 12 cuts chosen).
    LengthPolicy.Result fits = apply(17, 0, TruncationMode.KEEP_START);
    assertFalse(fits.truncated());
    assertArrayEquals(CHOSEN, fits.completions()[0]);
    BadRowException e = assertThrows(BadRowException.class, () -> apply(9, 0, TruncationMode.KEEP_START));
    assertEquals("prompt_too_long", e.rule());
    assertTrue(e.getMessage().contains("packed segment"), e.getMessage());
  }

  @Test
  void keepEndCutsThePromptThenSharesTheRoom() {
    // Prompt: BOS + its last 3 tokens (max_prompt_len 4); room 12 - 4 = 8 < 9: chosen floor(6 * 8 / 9) = 5.
    LengthPolicy.Result r = apply(12, 4, TruncationMode.KEEP_END);
    assertArrayEquals(new int[] {1, 14, 15, 16}, r.prompt());
    assertArrayEquals(new int[] {20, 21, 22, 23, 24}, r.completions()[0]);
    assertArrayEquals(REJECTED, r.completions()[1]);
    assertTrue(r.truncated());
  }

  @Test
  void dropRemovesPairsOverTheSegmentLimit() {
    assertEquals("over_max_seq_len", apply(16, 0, TruncationMode.DROP).dropReason());
    assertNull(apply(17, 0, TruncationMode.DROP).dropReason());
    assertEquals("prompt_over_max_prompt_len", apply(17, 5, TruncationMode.DROP).dropReason());
  }

  @Test
  void unpairedRowsKeepThePerSequenceRule() {
    DataOptions o = DataOptions.of(Path.of("x"), null).withLengths(10, 0, TruncationMode.KEEP_START).withPacking(true);
    LengthPolicy.Result r = new LengthPolicy(o, 1).apply(PROMPT, CHOSEN);
    assertArrayEquals(new int[] {20, 21}, r.completions()[0]);
  }

  @Test
  void everyModeOnTheEnglishDataFitsThePackedRow() throws Exception {
    for (TruncationMode mode : TruncationMode.values()) {
      DataOptions o = DataOptions.of(Fixtures.get("data/pref-en-64.jsonl"), MODEL)
          .withLengths(300, mode == TruncationMode.KEEP_END ? 100 : 0, mode).withPacking(true);
      LoadedDataset d = DatasetLoader.load(o);
      DataSummary s = d.summary();
      assertEquals(64, s.used() + s.droppedTotal(), mode.optionName());
      int longest = 0;
      for (int i = 0; i < d.pairs().size(); i++) {
        TokenizedPair p = d.pairs().get(i);
        longest = Math.max(longest, p.promptIds().length + p.chosenIds().length + p.rejectedIds().length);
      }
      assertTrue(longest <= 300, mode + ": longest segment " + longest);
      if (mode == TruncationMode.DROP) {
        assertTrue(s.droppedTotal() > 0 && s.truncated() == 0, s.format());
      } else {
        assertTrue(s.truncated() > 0 && s.droppedTotal() == 0, s.format());
      }
    }
  }

  @Test
  void packingIsATokenSetting() {
    DataOptions o = DataOptions.of(Path.of("x"), null);
    assertEquals(false, o.tokenSettings().get("packing"));
    assertEquals(true, o.withPacking(true).tokenSettings().get("packing"));
  }
}
