package dev.tfdpo.data;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;

class BadRowsAndLengthTest {

  static final Path MODEL = Fixtures.get("tiny-llama-a");

  private static DataOptions paddle() {
    return DataOptions.of(Fixtures.get("data/bad-rows-paddlenlp.jsonl"), MODEL)
        .withChatTemplate("plain")
        .withLengths(64, 0, TruncationMode.KEEP_START);
  }

  @Test
  void errorModeListsEveryProblemWithLineAndReason() {
    BadRowsException e = assertThrows(BadRowsException.class, () -> DatasetLoader.load(paddle()));
    assertEquals(7, e.total());
    Map<Integer, String> byLine =
        e.problems().stream().collect(Collectors.toMap(BadRowsException.Problem::line, BadRowsException.Problem::rule));
    assertEquals(
        Map.of(2, "invalid_json", 3, "missing_field", 4, "empty_field", 5, "wrong_type", 6, "tied_sort",
            7, "identical", 8, "prompt_too_long"),
        byLine);
    assertTrue(e.getMessage().contains("bad-rows-paddlenlp.jsonl:3: missing field 'response'"), e.getMessage());
    assertTrue(e.getMessage().contains("on_bad_row=skip"), e.getMessage());
  }

  @Test
  void skipModeCountsThem() throws Exception {
    LoadedDataset d = DatasetLoader.load(paddle().withOnBadRow(OnBadRow.SKIP));
    assertEquals(2, d.pairs().size());
    assertEquals(0, d.pairs().get(0).index());
    assertEquals(8, d.pairs().get(1).index());
    DataSummary s = d.summary();
    assertEquals(9, s.rowsRead());
    assertEquals(2, s.used());
    assertEquals(7, s.skippedTotal());
    assertEquals(1L, s.skipped().get("tied_sort"));
    assertTrue(s.format().contains("skipped 7"), s.format());
  }

  @Test
  void chatRules() throws Exception {
    DataOptions o = DataOptions.of(Fixtures.get("data/bad-rows-chat.jsonl"), MODEL).withChatTemplate("chatml");
    BadRowsException e = assertThrows(BadRowsException.class, () -> DatasetLoader.load(o));
    assertEquals(List.of("unknown_role", "not_an_object"),
        e.problems().stream().map(BadRowsException.Problem::rule).collect(Collectors.toList()));
    assertTrue(e.problems().get(0).reason().contains("role 'narrator'"), e.problems().get(0).reason());
    assertEquals(1, DatasetLoader.load(o.withOnBadRow(OnBadRow.SKIP)).pairs().size());
  }

  private static final int[] PROMPT = {1, 10, 11, 12, 13, 14, 15, 16};
  private static final int[] CHOSEN = {20, 21, 22, 23, 24, 2};
  private static final int[] REJECTED = {30, 31, 2};

  private static LengthPolicy.Result apply(int seq, int prompt, TruncationMode mode) {
    DataOptions o = DataOptions.of(Path.of("x"), null).withLengths(seq, prompt, mode);
    return new LengthPolicy(o, 1).apply(PROMPT, CHOSEN, REJECTED);
  }

  @Test
  void keepStartCutsCompletionTails() {
    LengthPolicy.Result r = apply(10, 0, TruncationMode.KEEP_START);
    assertArrayEquals(PROMPT, r.prompt());
    assertArrayEquals(new int[] {20, 21}, r.completions()[0]);
    assertArrayEquals(new int[] {30, 31}, r.completions()[1]);
    assertTrue(r.truncated());
    assertEquals(false, apply(20, 0, TruncationMode.KEEP_START).truncated());
    BadRowException e = assertThrows(BadRowException.class, () -> apply(8, 0, TruncationMode.KEEP_START));
    assertEquals("prompt_too_long", e.rule());
    assertThrows(BadRowException.class, () -> apply(20, 5, TruncationMode.KEEP_START));
  }

  @Test
  void keepEndKeepsBosAndThePromptEnd() {
    LengthPolicy.Result r = apply(8, 4, TruncationMode.KEEP_END);
    assertArrayEquals(new int[] {1, 14, 15, 16}, r.prompt());
    assertArrayEquals(new int[] {20, 21, 22, 23}, r.completions()[0]);
    assertArrayEquals(new int[] {30, 31, 2}, r.completions()[1]);
    assertTrue(r.truncated());
  }

  @Test
  void dropRemovesInsteadOfCutting() {
    assertEquals("over_max_seq_len", apply(12, 0, TruncationMode.DROP).dropReason());
    assertEquals("prompt_over_max_prompt_len", apply(20, 5, TruncationMode.DROP).dropReason());
    assertEquals(null, apply(14, 0, TruncationMode.DROP).dropReason());
  }

  @Test
  void dropModeInTheSummary() throws Exception {
    DataOptions o = DataOptions.of(Fixtures.get("data/pref-en-64.jsonl"), MODEL).withLengths(200, 0, TruncationMode.DROP);
    DataSummary s = DatasetLoader.load(o).summary();
    assertEquals(64, s.used() + s.droppedTotal());
    assertTrue(s.droppedTotal() > 0);
    assertTrue(s.completionLengths().max() + s.promptLengths().max() > 0);
  }
}
