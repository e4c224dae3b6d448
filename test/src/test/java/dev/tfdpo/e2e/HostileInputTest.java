package dev.tfdpo.e2e;

import static dev.tfdpo.e2e.BadInputTest.assertInputError;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tfdpo.io.OutputDirLock;
import dev.tfdpo.trainer.DpoTrainer;
import dev.tfdpo.trainer.RunFingerprint;
import dev.tfdpo.trainer.config.ConfigException;
import dev.tfdpo.trainer.config.TrainConfig;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Malformed inputs and faults beyond {@link BadInputTest}, one test per case found by trying the tools as
 * a hostile user would: each is refused with one clear message and exit status 2 (never a stack trace),
 * and nothing a user owns is lost. The tools run in child JVMs, as the scripts run them.
 */
class HostileInputTest {

  static final Path MODEL = BadInputTest.MODEL;
  static final Path DATA = BadInputTest.DATA;

  @TempDir static Path work;
  /** A finished run (2 steps, a checkpoint after each): the directory later runs and exports must not harm. */
  static Path finished;

  @BeforeAll
  static void finishARun() throws Exception {
    finished = work.resolve("finished");
    OutputDirLockTest.train(finished, List.of("--max_steps", "2", "--save_steps", "1"));
  }

  @Test
  void aNanWeightIsRefusedBeforeTheOutputDirectoryIsTouched() throws Exception {
    Path model = copyModel("nan-model");
    Path weights = model.resolve("model.safetensors");
    writeFloat(weights, "model.layers.1.mlp.down_proj.weight", 5, Float.POSITIVE_INFINITY);
    byte[] config = Files.readAllBytes(finished.resolve(DpoTrainer.CONFIG_FILE));
    byte[] finalModel = Files.readAllBytes(finished.resolve("model.safetensors"));
    // overwrite_output_dir would remove the finished run's files once the inputs are valid: they are not.
    Tools.Result r = train(finished, List.of("--model_name_or_path", model.toString(), "--overwrite_output_dir", "true"));
    assertInputError(r, weights + ", tensor 'model.layers.1.mlp.down_proj.weight': holds Infinity at element 5");
    assertArrayEquals(config, Files.readAllBytes(finished.resolve(DpoTrainer.CONFIG_FILE)));
    assertArrayEquals(finalModel, Files.readAllBytes(finished.resolve("model.safetensors")));
    assertTrue(Files.isDirectory(finished.resolve("checkpoint-1")));
  }

  @Test
  void aNanWeightInTheReferenceModelIsRefusedAtLoad() throws Exception {
    Path ref = copyModel("nan-ref");
    Path weights = ref.resolve("model.safetensors");
    writeFloat(weights, "model.norm.weight", 0, Float.NaN);
    Tools.Result r = train(work.resolve("ref-out"), List.of("--ref_model_name_or_path", ref.toString()));
    assertInputError(r, weights + ", tensor 'model.norm.weight': holds NaN at element 0");
    assertFalse(Files.exists(work.resolve("ref-out")), "nothing was written");
  }

  @Test
  void aKeyGivenTwiceInAJsonArrayRowIsABadRow() throws Exception {
    Path data = work.resolve("rows.json");
    Files.writeString(data, "[\n{\"prompt\": \"a\", \"chosen\": \" x\", \"rejected\": \" y\"},\n"
        + "{\"prompt\": \"a\", \"chosen\": \" x\", \"rejected\": \" y\", \"rejected\": \" z\"}\n]\n");
    Tools.Result r = train(work.resolve("array-out"), List.of("--train_dataset_path", data.toString()));
    assertInputError(r, data + ":3: key 'rejected' appears twice in the row");
  }

  @Test
  void aKeyGivenTwiceInATokenIdRowAndLenientJsonAreBadRows() throws Exception {
    Path data = work.resolve("ids.jsonl");
    Files.writeString(data, "{\"prompt_input_ids\": [1, 5], \"chosen_input_ids\": [7, 2], \"rejected_input_ids\": [8, 2]}\n"
        + "{\"prompt_input_ids\": [1, 5], \"chosen_input_ids\": [7, 2], \"chosen_input_ids\": [9, 2],"
        + " \"rejected_input_ids\": [8, 2]}\n"
        + "{'prompt_input_ids': [1, 5], 'chosen_input_ids': [7, 2], 'rejected_input_ids': [8, 2]}\n");
    Tools.Result r = train(work.resolve("ids-out"), List.of("--train_dataset_path", data.toString()));
    assertInputError(r, data + ":2: key 'chosen_input_ids' appears twice in the row");
    assertTrue(r.output().contains(data + ":3: invalid JSON: malformed JSON at line 1 column 3"), r.output());
  }

  @Test
  void aRowNestedTenThousandLevelsDeepIsABadRowNotACrash() throws Exception {
    Path data = work.resolve("deep.jsonl");
    Files.writeString(data, "{\"prompt\": " + "[".repeat(10_000) + "]".repeat(10_000)
        + ", \"chosen\": \" a\", \"rejected\": \" b\"}\n");
    Tools.Result r = train(work.resolve("deep-out"), List.of("--train_dataset_path", data.toString()));
    assertInputError(r, data + ":1: invalid JSON: arrays and objects nested deeper than 255 levels");
  }

  @Test
  void aKeyGivenTwiceInMapKeysIsAnError() throws Exception {
    Tools.Result r = train(work.resolve("map-out"), List.of("--map_keys", "{\"question\": \"prompt\", \"question\": \"chosen\"}"));
    assertInputError(r, "command line (--map_keys): 'map_keys' must be");
    assertTrue(r.output().contains("key 'question' at line 1 is given twice"), r.output());
  }

  @Test
  void aModelConfigWithADuplicateKeyOrAStringNumberIsRefused() throws Exception {
    Path model = copyModel("bad-config");
    Path config = model.resolve("config.json");
    String original = Files.readString(config);
    Files.writeString(config, original.replace("\"hidden_size\": 64,", "\"hidden_size\": 64,\n  \"hidden_size\": 128,"));
    Tools.Result r = train(work.resolve("config-out"), List.of("--model_name_or_path", model.toString()));
    assertInputError(r, config + ": key 'hidden_size' at line 13 is given twice");

    Files.writeString(config, original.replace("\"hidden_size\": 64,", "\"hidden_size\": \"64\","));
    r = train(work.resolve("config-out"), List.of("--model_name_or_path", model.toString()));
    assertInputError(r, config + ": 'hidden_size' must be an integer, got \"64\"");
  }

  @Test
  void resumeRefusesACheckpointOfAnotherRunThanItsOutputDirectory() throws Exception {
    Path dir = work.resolve("mixed-config");
    ResumeTest.copyTree(finished, dir);
    Path top = dir.resolve(DpoTrainer.CONFIG_FILE);
    Files.writeString(top, Files.readString(top).replaceAll("\"run_id\": \"[^\"]*\"", "\"run_id\": \"another-run\""));
    ConfigException e = assertThrows(ConfigException.class,
        () -> OutputDirLockTest.train(dir, List.of("--resume_from_checkpoint", "auto", "--max_steps", "3")));
    assertTrue(e.getMessage().contains("but " + top + " to run another-run: output_dir mixes two runs"), e.getMessage());
  }

  @Test
  void aCheckpointWhoseMetricsMixTwoRunsIsNotResumed() throws Exception {
    Path dir = work.resolve("mixed-metrics");
    ResumeTest.copyTree(finished, dir);
    Path metrics = dir.resolve("checkpoint-2").resolve(DpoTrainer.METRICS_FILE);
    List<String> lines = new ArrayList<>(Files.readAllLines(metrics));
    lines.set(0, lines.get(0).replaceAll("\"run_id\":\"[^\"]*\"", "\"run_id\":\"another-run\""));
    Files.write(metrics, lines);
    String runId = RunDirectoryTest.runId(dir.resolve("checkpoint-2").resolve(DpoTrainer.CONFIG_FILE));
    // A checkpoint written that way would list the mixed file in its manifest; the fingerprint check refuses it.
    ConfigException e = assertThrows(ConfigException.class,
        () -> RunFingerprint.checkMetrics(metrics, runId, "resume from another checkpoint"));
    assertTrue(e.getMessage().contains(metrics + ":1 was logged by run another-run, not by run " + runId), e.getMessage());
    // Changed after the save, it fails the manifest's checksums: auto takes the previous checkpoint.
    String log = OutputDirLockTest.train(dir, List.of("--resume_from_checkpoint", "auto", "--max_steps", "3"));
    assertTrue(log.contains("resume: skipping checkpoint-2: named by 'latest' but metrics.jsonl"), log);
    assertTrue(log.contains("checkpoint-1 (step 1"), log);
  }

  @Test
  void exportRefusesADirectoryWhoseMetricsMixTwoRuns() throws Exception {
    Path dir = work.resolve("mixed-export");
    ResumeTest.copyTree(finished, dir);
    Path metrics = dir.resolve(DpoTrainer.METRICS_FILE);
    Files.writeString(metrics, "{\"step\":1,\"run_id\":\"another-run\",\"loss\":0.69}\n", StandardOpenOption.APPEND);
    Tools.Result r = Tools.run(Tools.EXPORT, List.of(dir.toString(), work.resolve("mixed-hf").toString(), "--format", "hf"),
        work.resolve("mixed-export.log"));
    assertInputError(r, metrics + ":3 was logged by run another-run");
    assertFalse(Files.exists(work.resolve("mixed-hf")));
  }

  @Test
  void exportOverwriteNeverDestroysTheCheckpointItReads() throws Exception {
    Path dir = work.resolve("no-final-model");
    ResumeTest.copyTree(finished, dir);
    Files.delete(dir.resolve("model.safetensors")); // export of the run takes its newest checkpoint
    Path checkpoint = dir.resolve("checkpoint-2");
    byte[] weights = Files.readAllBytes(checkpoint.resolve("model.safetensors"));
    Tools.Result r = Tools.run(Tools.EXPORT, List.of(dir.toString(), checkpoint.toString(), "--format", "hf",
        "--overwrite"), work.resolve("export-over.log"));
    assertInputError(r, "OUT " + checkpoint + " is inside SRC " + dir);
    assertArrayEquals(weights, Files.readAllBytes(checkpoint.resolve("model.safetensors")));

    Tools.Result other = Tools.run(Tools.EXPORT, List.of(finished.toString(), dir.resolve("checkpoint-1").toString(),
        "--format", "hf", "--overwrite"), work.resolve("export-other.log"));
    assertInputError(other, "is a training checkpoint; export into a new directory");
    assertTrue(Files.isRegularFile(dir.resolve("checkpoint-1/model.safetensors")));
  }

  @Test
  void preprocessNeverOverwritesItsInputAndLeavesNoLockFile() throws Exception {
    Path dir = Files.createDirectories(work.resolve("data-dir"));
    Path input = dir.resolve("train.jsonl");
    Files.copy(DATA, input);
    Tools.Result r = Tools.run(Tools.PREPROCESS, List.of("--input", input.toString(), "--output", input.toString(),
        "--model_name_or_path", MODEL.toString()), work.resolve("pre-same.log"));
    assertInputError(r, "--output " + input + " is the --input file");
    assertEquals(-1, Files.mismatch(DATA, input), "the input is untouched");
    assertFalse(Files.exists(dir.resolve(OutputDirLock.FILE)), "a refused preprocess leaves no lock file");

    Tools.Result ok = Tools.run(Tools.PREPROCESS, List.of("--input", input.toString(), "--output",
        dir.resolve("train.tfdpo").toString(), "--model_name_or_path", MODEL.toString()), work.resolve("pre-ok.log"));
    assertEquals(0, ok.noTrace().status(), ok.output());
    assertFalse(Files.exists(dir.resolve(OutputDirLock.FILE)), "a finished preprocess leaves no lock file");
  }

  @Test
  void resumeFromAFileSaysWhatToPass() throws Exception {
    Path file = finished.resolve("checkpoint-1").resolve(DpoTrainer.CONFIG_FILE);
    Tools.Result r = train(work.resolve("resume-file"), List.of("--resume_from_checkpoint", file.toString()));
    assertInputError(r, "cannot resume from " + file + ": it is a file, not a checkpoint directory; pass the"
        + " checkpoint-N directory that holds it (" + finished.resolve("checkpoint-1") + ")");
  }

  @Test
  void aConfigThatIsADirectorySaysSo() throws Exception {
    Tools.Result r = Tools.run(Tools.TRAIN, List.of(work.toString()), work.resolve("config-dir.log"));
    assertInputError(r, "config file " + work + " is a directory; give the JSON config file");
  }

  @Test
  void everyMetricsLineCarriesTheRunFingerprint() throws Exception {
    String runId = RunDirectoryTest.runId(finished.resolve(DpoTrainer.CONFIG_FILE));
    List<String> lines = Files.readAllLines(finished.resolve(DpoTrainer.METRICS_FILE));
    assertFalse(lines.isEmpty());
    for (String line : lines) {
      assertTrue(line.contains("\"run_id\":\"" + runId + "\""), line);
    }
    assertFalse(Files.exists(finished.resolve(OutputDirLock.FILE)), "a finished run leaves no lock file");
    assertThrows(ConfigException.class, () -> TrainConfig.load(Tools.ROOT.resolve("configs/default.json"),
        List.of("--map_keys", "{prompt: 'question'}")), "lenient JSON on the command line");
  }

  // ---- helpers ----

  static Tools.Result train(Path outputDir, List<String> extra) throws Exception {
    List<String> args = new ArrayList<>(Tools.trainArgs(outputDir, List.of("--max_steps", "1")));
    args.addAll(extra);
    return Tools.run(Tools.TRAIN, args, work.resolve("train-" + System.nanoTime() + ".log"));
  }

  static Path copyModel(String name) throws IOException {
    Path model = work.resolve(name);
    ResumeTest.copyTree(MODEL, model);
    return model;
  }

  /** Overwrites element {@code index} of float32 tensor {@code tensor} in a safetensors file. */
  static void writeFloat(Path weights, String tensor, int index, float value) throws IOException {
    try (FileChannel ch = FileChannel.open(weights, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
      ByteBuffer len = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
      ch.read(len, 0);
      long dataStart = 8 + len.getLong(0);
      String header = new String(Files.readAllBytes(weights), 8, (int) (dataStart - 8), StandardCharsets.UTF_8);
      int at = header.indexOf("\"" + tensor + "\"");
      int offsets = header.indexOf("data_offsets", at);
      long begin = Long.parseLong(header.substring(header.indexOf('[', offsets) + 1, header.indexOf(',', offsets)).trim());
      ch.write(ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putFloat(0, value), dataStart + begin + 4L * index);
    }
  }
}
