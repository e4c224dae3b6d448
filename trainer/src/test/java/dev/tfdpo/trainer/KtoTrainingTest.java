package dev.tfdpo.trainer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tfdpo.data.BadRowsException;
import dev.tfdpo.data.ListPairSource;
import dev.tfdpo.data.TokenizedCompletion;
import dev.tfdpo.data.TokenizedPair;
import dev.tfdpo.graphs.training.Batch;
import dev.tfdpo.io.hf.LlamaConfig;
import dev.tfdpo.trainer.config.ConfigException;
import dev.tfdpo.trainer.config.TrainConfig;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * KTO's data side: every unpaired format row by row, paired data split as TRL does, the KL rows'
 * rotation, TRL's balance warning, bad rows and the refused settings.
 */
class KtoTrainingTest {

  @TempDir Path dir;

  static TokenizedCompletion row(int i, boolean desirable) {
    return new TokenizedCompletion(i, new int[] {1, 100 + i}, new int[] {200 + i, 300 + i, 2}, desirable);
  }

  @Test
  void klCompletionsRotateByOneWithinEachChunkInDataOrder() {
    List<TokenizedCompletion> rows = new ArrayList<>();
    for (int i = 0; i < 10; i++) {
      rows.add(row(i, i % 3 == 0));
    }
    KtoTraining.Rows r = KtoTraining.withKl(rows, 4, 1024, null);
    // Chunks [0..3], [4..7], [8, 9]: (x1,yn), (x2,y1), ..., (xn,y(n-1)).
    int[] from = {3, 0, 1, 2, 7, 4, 5, 6, 9, 8};
    for (int i = 0; i < 10; i++) {
      TokenizedPair p = r.pairs().get(i);
      assertEquals(i, p.index(), "a pair's index is its position (the reference cache's key)");
      assertArrayEquals(rows.get(i).promptIds(), p.promptIds());
      assertArrayEquals(rows.get(i).completionIds(), p.chosenIds());
      assertArrayEquals(rows.get(from[i]).completionIds(), p.rejectedIds(), "KL completion of row " + i);
      assertEquals(i % 3 == 0 ? 1f : 0f, r.labels()[i]);
      assertEquals(5, r.tokens()[i], "prompt + completion of the row itself");
    }
  }

  @Test
  void klCompletionIsCutToMaxSeqLenWithItsPrompt() {
    List<TokenizedCompletion> rows = List.of(
        new TokenizedCompletion(0, new int[] {1, 5, 6}, new int[] {7, 2}, true),
        new TokenizedCompletion(1, new int[] {1}, new int[] {8, 9, 10, 11, 2}, false));
    KtoTraining.Rows r = KtoTraining.withKl(rows, 2, 5, null);
    // Row 0's KL completion is row 1's (5 tokens); with its 3-token prompt only 2 fit in 5.
    assertArrayEquals(new int[] {8, 9}, r.pairs().get(0).rejectedIds());
    assertArrayEquals(new int[] {7, 2}, r.pairs().get(1).rejectedIds());
  }

  @Test
  void klCompletionIsTheOtherRowsUncutCompletion() {
    // max_seq_len 5: row 0's 4-token prompt left its completion 1 token ({7}) of {7, 8, 9, 2}; row 1's
    // 1-token prompt leaves its KL row 4, so (as TRL, which rotates the uncut ids, then cuts to max_length)
    // row 1's KL completion is {7, 8, 9, 2}, not the cut {7}.
    List<TokenizedCompletion> rows = List.of(
        new TokenizedCompletion(0, new int[] {1, 5, 6, 4}, new int[] {7}, true, new int[] {7, 8, 9, 2}),
        new TokenizedCompletion(1, new int[] {1}, new int[] {10, 2}, false));
    KtoTraining.Rows r = KtoTraining.withKl(rows, 2, 5, null);
    assertArrayEquals(new int[] {7, 8, 9, 2}, r.pairs().get(1).rejectedIds());
    assertArrayEquals(new int[] {10}, r.pairs().get(0).rejectedIds());
    assertArrayEquals(new int[] {7}, r.pairs().get(0).chosenIds(), "the row itself stays cut");
  }

  @Test
  void pairsAreSplitAsTrlUnpairsThem() {
    List<TokenizedPair> pairs = List.of(
        new TokenizedPair(0, new int[] {1}, new int[] {10}, new int[] {20}),
        new TokenizedPair(1, new int[] {1}, new int[] {11}, new int[] {21}),
        new TokenizedPair(2, new int[] {1}, new int[] {12}, new int[] {22}));
    List<TokenizedCompletion> rows = KtoTraining.unpair(new ListPairSource(pairs), null);
    // Every chosen row (desirable) of the chunk, then every rejected row.
    int[] completions = {10, 11, 12, 20, 21, 22};
    boolean[] labels = {true, true, true, false, false, false};
    assertEquals(6, rows.size());
    for (int i = 0; i < 6; i++) {
      assertEquals(completions[i], rows.get(i).completionIds()[0]);
      assertEquals(labels[i], rows.get(i).desirable());
    }
  }

  @Test
  void balanceWarningFollowsTrlsRanges() {
    assertNull(KtoBalance.warning(48, 48, 1, 1), "balanced");
    // 1 desirable, 3 undesirable: desirable_weight in [3.0, 3.99] or undesirable_weight in [0.25, 0.33].
    String w = KtoBalance.warning(1, 3, 1, 1);
    assertTrue(w != null && w.contains("[3.0, 3.99]") && w.contains("[0.25, 0.33]"), w);
    assertNull(KtoBalance.warning(1, 3, 3.5, 1));
    assertNull(KtoBalance.warning(1, 3, 1, 0.3));
  }

  // ---- through the trainer objective, with the tiny model's tokenizer ----

  KtoTraining load(List<String> rows, String... overrides) throws IOException {
    Path data = dir.resolve("data.jsonl");
    Files.write(data, rows);
    Path config = dir.resolve("c.json");
    Files.writeString(config, "{\"rlhf_type\": \"kto\", \"model_name_or_path\": \"" + Golden.TINY
        + "\", \"train_dataset_path\": \"" + data + "\", \"train_sampling_strategy\": \"sequential\","
        + " \"per_device_train_batch_size\": 2, \"chat_template\": \"chatml\"}");
    TrainConfig c = TrainConfig.load(config, List.of(overrides));
    KtoTraining kto = (KtoTraining) TrainingObjectives.forConfig(c, Golden.TINY, LlamaConfig.read(Golden.TINY));
    kto.load(new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8));
    return kto;
  }

  static float[] labels(KtoTraining kto) {
    int n = kto.train().size();
    int[] all = new int[n];
    for (int i = 0; i < n; i++) {
      all[i] = i;
    }
    Batch b = kto.train().batch(all);
    assertEquals(n, b.numPairs());
    return b.labels();
  }

  @Test
  void everyUnpairedFormatGivesItsRowsAndLabels() throws IOException {
    // TRL standard text rows.
    assertArrayEquals(new float[] {1, 0}, labels(load(List.of(
        "{\"prompt\": \"2+2=\", \"completion\": \" 4\", \"label\": true}",
        "{\"prompt\": \"2+2=\", \"completion\": \" 5\", \"label\": false}"))));
    // TRL conversational rows.
    assertArrayEquals(new float[] {0, 1}, labels(load(List.of(
        "{\"prompt\": [{\"role\": \"user\", \"content\": \"hi\"}], \"completion\": [{\"role\": \"assistant\", \"content\": \"go\"}], \"label\": false}",
        "{\"prompt\": [{\"role\": \"user\", \"content\": \"hi\"}], \"completion\": [{\"role\": \"assistant\", \"content\": \"hello\"}], \"label\": true}"))));
    // LLaMA-Factory (kto_tag mapped to label by dataset_info.json) and ms-swift: messages + label.
    assertArrayEquals(new float[] {1, 0, 1}, labels(load(List.of(
        "{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}, {\"role\": \"assistant\", \"content\": \"hello\"}], \"label\": true}",
        "{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}, {\"role\": \"assistant\", \"content\": \"go\"}], \"label\": false}",
        "{\"messages\": [{\"role\": \"user\", \"content\": \"yo\"}, {\"role\": \"assistant\", \"content\": \"hey\"}], \"label\": true}"))));
    // LLaMA-Factory's own column name through map_keys, as its dataset_info.json maps kto_tag.
    assertArrayEquals(new float[] {0, 1}, labels(load(List.of(
        "{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}, {\"role\": \"assistant\", \"content\": \"go\"}], \"kto_tag\": false}",
        "{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}, {\"role\": \"assistant\", \"content\": \"hello\"}], \"kto_tag\": true}"),
        "--map_keys", "{\"label\": \"kto_tag\"}", "--dataset_format", "kto")));
    // PaddleNLP kto_data: one response, sort [1] desirable, [0] not.
    assertArrayEquals(new float[] {1, 0}, labels(load(List.of(
        "{\"src\": [\"hi\"], \"tgt\": [], \"response\": [\"hello\"], \"sort\": [1]}",
        "{\"src\": [\"hi\"], \"tgt\": [], \"response\": [\"go away\"], \"sort\": [0]}"))));
  }

  @Test
  void preferencePairsAreSplitIntoDesirableAndUndesirableRows() throws IOException {
    KtoTraining kto = load(List.of(
        "{\"prompt\": \"2+2=\", \"chosen\": \" 4\", \"rejected\": \" 5\"}",
        "{\"prompt\": \"3+3=\", \"chosen\": \" 6\", \"rejected\": \" 7\"}"));
    assertArrayEquals(new float[] {1, 1, 0, 0}, labels(kto));
  }

  @Test
  void badRowsNameTheRowAndWhatIsWrong() {
    String good = "{\"prompt\": \"2+2=\", \"completion\": \" 4\", \"label\": true}";
    BadRowsException e = assertThrows(BadRowsException.class, () -> load(List.of(good,
        "{\"prompt\": \"2+2=\", \"completion\": \" 5\"}")));
    assertTrue(e.getMessage().contains("data.jsonl:2: missing field 'label'"), e.getMessage());
    e = assertThrows(BadRowsException.class, () -> load(List.of(good,
        "{\"prompt\": \"2+2=\", \"completion\": \" 5\", \"label\": \"yes\"}")));
    assertTrue(e.getMessage().contains("'label' must be true or false"), e.getMessage());
    e = assertThrows(BadRowsException.class, () -> load(List.of(good,
        "{\"prompt\": [{\"role\": \"user\", \"content\": \"hi\"}], \"completion\": [], \"label\": false}")));
    assertTrue(e.getMessage().contains("data.jsonl:2:"), e.getMessage());
  }

  @Test
  void klLossNeedsSequentialChunksOfMoreThanOneRow() {
    String good = "{\"prompt\": \"2+2=\", \"completion\": \" 4\", \"label\": true}";
    ConfigException e = assertThrows(ConfigException.class,
        () -> load(List.of(good, good), "--train_sampling_strategy", "random"));
    assertTrue(e.getMessage().contains("train_sampling_strategy sequential"), e.getMessage());
    e = assertThrows(ConfigException.class, () -> load(List.of(good, good), "--per_device_train_batch_size", "1"));
    assertTrue(e.getMessage().contains("per_device_train_batch_size > 1"), e.getMessage());
  }
}
