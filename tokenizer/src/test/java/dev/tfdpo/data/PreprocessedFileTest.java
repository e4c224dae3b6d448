package dev.tfdpo.data;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class PreprocessedFileTest {

  @TempDir Path tmp;

  @Test
  void preprocessedEqualsRawAndMismatchesAreRefused() throws Exception {
    Path out = tmp.resolve("pref.tfdpo");
    String model = Fixtures.get("tiny-llama-a").toString();
    DataOptions raw = DataOptions.of(Fixtures.get("data/pref-en-64.jsonl"), Path.of(model))
        .withLengths(200, 0, TruncationMode.KEEP_START);
    DataSummary written = PreprocessedFile.write(raw, out);
    assertTrue(PreprocessedFile.isPreprocessed(out));
    LoadedDataset a = DatasetLoader.load(raw);
    LoadedDataset b = DatasetLoader.load(raw.withPath(out));
    assertEquals(a.pairs().size(), b.pairs().size());
    for (int i = 0; i < a.pairs().size(); i++) {
      TokenizedPair x = a.pairs().get(i);
      TokenizedPair y = b.pairs().get(i);
      assertEquals(x.index(), y.index());
      assertArrayEquals(x.promptIds(), y.promptIds());
      assertArrayEquals(x.chosenIds(), y.chosenIds());
      assertArrayEquals(x.rejectedIds(), y.rejectedIds());
    }
    assertEquals(written.readFrom(out.toString()), b.summary());
    assertEquals(out.toString(), b.summary().file());
    assertEquals("preprocessed from trl_standard " + Fixtures.get("data/pref-en-64.jsonl"),
        b.summary().datasetFormat());
    assertEquals(a.summary().truncated(), b.summary().truncated());

    IllegalArgumentException settings = assertThrows(IllegalArgumentException.class,
        () -> DatasetLoader.load(raw.withPath(out).withLengths(256, 0, TruncationMode.KEEP_START)));
    assertTrue(settings.getMessage().contains("max_seq_len: file 200"), settings.getMessage());

    Path other = tmp.resolve("other-model");
    Files.createDirectories(other);
    Files.copy(Fixtures.get("tokenizers/google-test-unigram-1k.model"), other.resolve("tokenizer.model"));
    IllegalArgumentException tok = assertThrows(IllegalArgumentException.class,
        () -> DatasetLoader.load(DataOptions.of(out, other).withLengths(200, 0, TruncationMode.KEEP_START)));
    assertTrue(tok.getMessage().contains("another tokenizer"), tok.getMessage());
  }
}
