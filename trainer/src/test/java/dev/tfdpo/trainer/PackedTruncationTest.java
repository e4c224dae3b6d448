package dev.tfdpo.trainer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import dev.tfdpo.data.DataOptions;
import dev.tfdpo.data.DatasetLoader;
import dev.tfdpo.data.LoadedDataset;
import dev.tfdpo.data.PairSource;
import dev.tfdpo.data.TokenizedPair;
import dev.tfdpo.graphs.training.Batch;
import dev.tfdpo.trainer.config.TrainConfig;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * A pair longer than {@code max_seq_len} under packing, in each {@code truncation_mode}, from the config
 * keys to the packed rows: with {@code max_seq_len 300}, every pair of the English data longer than
 * that (prompt + chosen + rejected, up to 379 tokens) is, with keep_start, cut to its prompt and the
 * starts of both completions; with keep_end to BOS + the prompt's end (max_prompt_len 100) and the
 * starts of both completions; with drop removed, the others kept in order. No packed row is longer
 * than 300.
 */
class PackedTruncationTest {

  static final int MAX = 300;

  @TempDir static Path out;

  @ParameterizedTest
  @ValueSource(strings = {"keep_start", "keep_end", "drop"})
  void aPairOverTheRowInEachMode(String mode) throws Exception {
    TrainConfig config = TrainConfig.load(Golden.ROOT.resolve("configs/reproduce/trl-dpo-tiny.json"),
        List.of("--packing", "true", "--max_seq_len", String.valueOf(MAX), "--truncation_mode", mode,
            "--max_prompt_len", mode.equals("keep_end") ? "100" : "0", "--output_dir", out.toString()));
    Path modelDir = Golden.TINY;
    LoadedDataset data = TrainingData.load(config, modelDir, out.resolve("summary-" + mode + ".json"));
    PairSource pairs = data.pairs();
    PairSource raw = DatasetLoader.load(
        DataOptions.of(Golden.FIXTURES.resolve("data/pref-en-64.jsonl"), modelDir).withLengths(1024, 0, null))
        .pairs();
    int over = 0;
    for (int i = 0, kept = 0; i < raw.size(); i++) {
      TokenizedPair r = raw.get(i);
      boolean tooLong = Packer.segmentLength(r) > MAX;
      over += tooLong ? 1 : 0;
      if (mode.equals("drop")) {
        if (!tooLong) {
          assertEquals(r.index(), pairs.get(kept++).index(), "kept in order");
        }
        continue;
      }
      TokenizedPair cut = pairs.get(i);
      assertEquals(r.index(), cut.index());
      boolean promptCut = mode.equals("keep_end") && r.promptIds().length > 100;
      if (!tooLong && !promptCut) {
        assertArrayEquals(r.chosenIds(), cut.chosenIds());
        continue;
      }
      over += tooLong ? 0 : 1; // keep_end counts a pair whose prompt alone was cut as truncated
      int n = Packer.segmentLength(cut);
      boolean completionsCut = cut.chosenIds().length < r.chosenIds().length
          || cut.rejectedIds().length < r.rejectedIds().length;
      assertTrue(n <= MAX && (n >= MAX - 1 || !completionsCut), "a pair whose completions were cut fills the row: " + n);
      int[] prompt = mode.equals("keep_start") || r.promptIds().length <= 100 ? r.promptIds()
          : concat(new int[] {r.promptIds()[0]},
              Arrays.copyOfRange(r.promptIds(), r.promptIds().length - 99, r.promptIds().length));
      assertArrayEquals(prompt, cut.promptIds());
      assertArrayEquals(Arrays.copyOf(r.chosenIds(), cut.chosenIds().length), cut.chosenIds());
      assertArrayEquals(Arrays.copyOf(r.rejectedIds(), cut.rejectedIds().length), cut.rejectedIds());
    }
    assertTrue(over > 0, "some pairs are longer than " + MAX);
    if (mode.equals("drop")) {
      assertEquals(over, data.summary().droppedTotal());
    } else {
      assertEquals(over, data.summary().truncated());
    }

    BatchBuilder packer = BatchBuilder.of(true, 2, MAX, true, ShapeBuckets.NONE);
    for (int start = 0; start < pairs.size(); start += 4) {
      List<TokenizedPair> group = new ArrayList<>();
      for (int i = start; i < Math.min(start + 4, pairs.size()); i++) {
        group.add(pairs.get(i));
      }
      Batch b = packer.build(group);
      assertTrue(b.length() <= MAX, "row length " + b.length());
      for (int k = 0; k < b.lossSequences().length; k++) {
        assertTrue(b.lossPositions()[k] < b.rows() * b.length());
      }
    }
  }

  private static int[] concat(int[] a, int[] b) {
    int[] c = Arrays.copyOf(a, a.length + b.length);
    System.arraycopy(b, 0, c, a.length, b.length);
    return c;
  }
}
