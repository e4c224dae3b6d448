package dev.tfdpo.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tfdpo.data.PreprocessedFile;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The small promises of the command line: --help lists the keys of the key table; preprocess takes
 * relative paths from the project root when they are not under the current directory; an accumulation
 * larger than an epoch is what Hugging Face's Trainer does (a step ends with its epoch) and is reported
 * as it is; the ETA waits for a step after the first.
 */
class CommandLineTest {

  @TempDir Path work;

  @Test
  void helpListsTheKeysOfTheKeyTable() throws Exception {
    Tools.Result train = Tools.run(Tools.TRAIN, List.of("--help"), work.resolve("train-help.log"));
    assertEquals(0, train.status(), train.output());
    assertTrue(train.output().contains("--overwrite_output_dir (default false)"), train.output());
    assertTrue(train.output().contains("--model_name_or_path (required)"), train.output());
    Tools.Result pre = Tools.run(Tools.PREPROCESS, List.of("--help"), work.resolve("pre-help.log"));
    assertEquals(0, pre.status(), pre.output());
    assertTrue(pre.output().contains("--max_seq_len (default 1024)"), pre.output());
  }

  @Test
  void preprocessFindsRelativePathsFromTheProjectRoot() throws Exception {
    // The child runs in the test module's directory, where test/fixtures/... does not exist.
    Path out = work.resolve("data/pref.tfdpo");
    Tools.Result r = Tools.run(Tools.PREPROCESS, List.of("--input", "test/fixtures/data/pref-en-64.jsonl",
        "--output=" + out, "--model_name_or_path", "test/fixtures/tiny-llama-a", "--max_seq_len", "256"),
        work.resolve("pre.log")).noTrace();
    assertEquals(0, r.status(), r.output());
    assertTrue(PreprocessedFile.isPreprocessed(out));
  }

  @Test
  void accumulationLargerThanAnEpochIsOneEpochPerStepAndSaysSo() throws Exception {
    // 64 pairs, 8 per micro-batch: 8 micro-batches per epoch.
    List<String> common = List.of("--per_device_train_batch_size", "8", "--max_steps", "2", "--save_strategy", "no",
        "--train_sampling_strategy", "sequential");
    Path big = work.resolve("big");
    String log = OutputDirLockTest.train(big, concat(common, List.of("--gradient_accumulation_steps", "100")));
    assertTrue(log.contains("8 micro-batches per step (gradient_accumulation_steps 100 is more than the 8"
        + " micro-batches of an epoch; as in Hugging Face's Trainer, a step ends with its epoch)"), log);
    Path exact = work.resolve("exact");
    OutputDirLockTest.train(exact, concat(common, List.of("--gradient_accumulation_steps", "8")));
    assertEquals(ResumeTest.metricsOfAnyRun(exact), ResumeTest.metricsOfAnyRun(big),
        "100 and 8 give the same steps when an epoch has 8 micro-batches");
    assertTrue(log.contains("step 1/2 |") && log.contains("| ETA --"), "no ETA from the first step alone: " + log);
    assertTrue(log.matches("(?s).*done: 2 steps in [0-9.]+ s \\([0-9.]+ s training loop\\), [0-9,]+ tok/s.*"), log);
  }

  static List<String> concat(List<String> a, List<String> b) {
    List<String> out = new java.util.ArrayList<>(a);
    out.addAll(b);
    return out;
  }
}
