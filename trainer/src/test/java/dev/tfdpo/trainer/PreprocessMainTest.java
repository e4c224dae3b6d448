package dev.tfdpo.trainer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tfdpo.data.DataOptions;
import dev.tfdpo.data.DatasetLoader;
import dev.tfdpo.data.LoadedDataset;
import dev.tfdpo.data.PreprocessedFile;
import dev.tfdpo.data.TruncationMode;
import dev.tfdpo.trainer.config.ConfigException;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code scripts/preprocess.sh}: its options are the config table's data keys, checked the same way. */
class PreprocessMainTest {

  @TempDir Path tmp;

  @Test
  void writesWhatTheLoaderReadsFromTheRawFile() throws Exception {
    Path raw = Golden.FIXTURES.resolve("data/pref-en-64.jsonl");
    Path out = tmp.resolve("pref.tfdpo");
    PreprocessMain.run(new String[] {
      "--input", raw.toString(), "--output", out.toString(),
      "--model_name_or_path", Golden.TINY.toString(), "--max_seq_len", "200"});
    assertTrue(PreprocessedFile.isPreprocessed(out));
    DataOptions options = DataOptions.of(raw, Golden.TINY).withLengths(200, 0, TruncationMode.KEEP_START);
    LoadedDataset a = DatasetLoader.load(options);
    LoadedDataset b = DatasetLoader.load(options.withPath(out));
    assertEquals(a.pairs().size(), b.pairs().size());
    for (int i = 0; i < a.pairs().size(); i++) {
      assertArrayEquals(a.pairs().get(i).chosenIds(), b.pairs().get(i).chosenIds());
      assertArrayEquals(a.pairs().get(i).rejectedIds(), b.pairs().get(i).rejectedIds());
    }
  }

  @Test
  void keysOtherThanTheDataKeysAreRejected() {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> PreprocessMain.run(new String[] {"--input", "a", "--output", "b", "--max_len", "5"}));
    assertTrue(e.getMessage().contains("unknown data option 'max_len'"), e.getMessage());
    IllegalArgumentException training = assertThrows(IllegalArgumentException.class,
        () -> PreprocessMain.run(new String[] {"--input", "a", "--output", "b", "--beta", "0.2"}));
    assertTrue(training.getMessage().contains("unknown data option 'beta'"), training.getMessage());
  }

  @Test
  void valuesAreCheckedByTheConfigTable() {
    ConfigException e = assertThrows(ConfigException.class,
        () -> PreprocessMain.run(new String[] {"--input", "a", "--output", "b", "--max_seq_len", "0"}));
    assertTrue(e.getMessage().contains("'max_seq_len' is 0; it must be a positive integer"), e.getMessage());
  }
}
