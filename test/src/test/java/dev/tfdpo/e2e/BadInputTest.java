package dev.tfdpo.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.tfdpo.data.DataOptions;
import dev.tfdpo.data.DatasetLoader;
import dev.tfdpo.data.LoadedDataset;
import dev.tfdpo.data.OnBadRow;
import dev.tfdpo.io.checkpoint.CheckpointVerifier;
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
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Every user-caused error is one clear message and exit status 2, never a stack trace; a failure while
 * running (a full disk) is exit status 1, names the file and leaves the previous checkpoint intact.
 * The trainer runs in child JVMs through {@code TrainMain}, as {@code scripts/train.sh} runs it.
 */
class BadInputTest {

  static final Path MODEL = Tools.ROOT.resolve("test/fixtures/tiny-llama-a");
  static final Path DATA = Tools.ROOT.resolve("test/fixtures/data/pref-en-64.jsonl");

  @TempDir Path work;

  @Test
  void nullValueIsAnErrorNamingTheKey() throws Exception {
    Tools.Result r = train(config("\"learning_rate\": null"), List.of());
    assertInputError(r, "config.json:4: 'learning_rate' is null; give it a value, or remove it for its default 1.0E-6");
  }

  @Test
  void duplicateKeyIsAnError() throws Exception {
    Tools.Result r = train(config("\"beta\": 0.1,\n  \"beta\": 0.2"), List.of());
    assertInputError(r, "key 'beta' at line 5 is given twice");
  }

  @Test
  void invalidJsonSaysWhereWithoutGsonsAdvice() throws Exception {
    Tools.Result r = train(config("\"beta\": 0.1,"), List.of());
    assertInputError(r, "config.json: invalid JSON");
    assertFalse(r.output().contains("setStrictness"), r.output());
  }

  @Test
  void keyEqualsValueAndOriginsOnTheCommandLine() throws Exception {
    TrainConfig c = TrainConfig.load(Tools.ROOT.resolve("configs/default.json"), List.of("--beta=0.25", "--max_steps=3"));
    assertEquals(0.25, c.dpo().beta());
    assertEquals(3, c.training().maxSteps());
    Tools.Result r = train(Tools.ROOT.resolve("configs/default.json"), List.of("--beta", "Infinity"));
    assertInputError(r, "command line (--beta): 'beta' must be a finite number, got Infinity");
  }

  @Test
  void invalidUtf8InARowIsAnErrorOrACountedSkip() throws Exception {
    Path data = work.resolve("utf8.jsonl");
    List<String> lines = Files.readAllLines(DATA).subList(0, 8);
    byte[] good = (String.join("\n", lines.subList(0, 2)) + "\n").getBytes(StandardCharsets.UTF_8);
    byte[] bad = "{\"prompt\": \"a\u00e9b\", \"chosen\": \" x\", \"rejected\": \" y\"}\n".getBytes(StandardCharsets.UTF_8);
    int at = indexOf(bad, (byte) 0xc3);
    bad[at + 1] = (byte) 0x28; // 0xc3 0x28: a lead byte without its continuation
    byte[] rest = (String.join("\n", lines.subList(2, 8)) + "\n").getBytes(StandardCharsets.UTF_8);
    Files.write(data, concat(good, bad, rest));
    Tools.Result r = train(Tools.ROOT.resolve("configs/default.json"), List.of("--train_dataset_path", data.toString()));
    assertInputError(r, data + ":3: invalid UTF-8 at byte offset " + (good.length + at) + " (byte " + (at + 1)
        + " of the line)");
    LoadedDataset skipped = DatasetLoader.load(DataOptions.of(data, MODEL).withOnBadRow(OnBadRow.SKIP));
    assertEquals(8, skipped.pairs().size(), "9 rows, 1 skipped");
    assertEquals(1L, skipped.summary().skipped().get("invalid_utf8"));
  }

  @Test
  void duplicateKeysAndInvalidJsonInRowsAreBadRowsWithoutParserAdvice() throws Exception {
    Path data = work.resolve("rows.jsonl");
    List<String> lines = new ArrayList<>(Files.readAllLines(DATA).subList(0, 4));
    lines.add("{\"prompt\": \"a\", \"chosen\": \" x\", \"chosen\": \" z\", \"rejected\": \" y\"}");
    lines.add("{\"prompt\": \"a\", \"chosen\": \" x\" \"rejected\": \" y\"}");
    Files.write(data, lines);
    Tools.Result r = train(Tools.ROOT.resolve("configs/default.json"), List.of("--train_dataset_path", data.toString()));
    assertInputError(r, data + ":5: key 'chosen' appears twice in the row");
    assertTrue(r.output().contains(data + ":6: invalid JSON: "), r.output());
    assertFalse(r.output().contains("setStrictness") || r.output().contains("Troubleshooting"), r.output());
  }

  @Test
  void tokenIdBeyondTheVocabularyIsRefusedAtLoadNamingTheRow() throws Exception {
    Path data = work.resolve("ids.jsonl");
    Files.writeString(data, "{\"prompt_input_ids\": [1, 5], \"chosen_input_ids\": [7, 2], \"rejected_input_ids\": [8, 2]}\n"
        + "{\"prompt_input_ids\": [1, 5], \"chosen_input_ids\": [7, 2], \"rejected_input_ids\": [2000, 2]}\n");
    Tools.Result r = train(Tools.ROOT.resolve("configs/default.json"), List.of("--train_dataset_path", data.toString()));
    assertInputError(r, "row 2 has token id 2000 in its rejected ids, outside the model's vocabulary [0, 2000)");
  }

  @Test
  void tokenizerLargerThanVocabSizeIsRefusedAtLoad() throws Exception {
    Path model = copyModel();
    Path config = model.resolve("config.json");
    Files.writeString(config, Files.readString(config).replace("\"vocab_size\": 2000", "\"vocab_size\": 1000"));
    Tools.Result r = train(Tools.ROOT.resolve("configs/default.json"), List.of("--model_name_or_path", model.toString()));
    assertInputError(r, "the tokenizer " + model.resolve("tokenizer.json") + " has ");
    assertTrue(r.output().contains("ids but the model's " + config + " has vocab_size 1000"), r.output());
  }

  @Test
  void nonFiniteWeightIsRefusedAtLoadNamingTheTensor() throws Exception {
    Path model = copyModel();
    Path weights = model.resolve("model.safetensors");
    try (FileChannel ch = FileChannel.open(weights, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
      ByteBuffer len = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
      ch.read(len, 0);
      long dataStart = 8 + len.getLong(0);
      String header = new String(Files.readAllBytes(weights), 8, (int) (dataStart - 8), StandardCharsets.UTF_8);
      String name = "model.norm.weight";
      int at = header.indexOf("\"" + name + "\"");
      int offsets = header.indexOf("data_offsets", at);
      long begin = Long.parseLong(header.substring(header.indexOf('[', offsets) + 1, header.indexOf(',', offsets)).trim());
      ch.write(ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putFloat(0, Float.NaN), dataStart + begin + 12);
    }
    Tools.Result r = train(Tools.ROOT.resolve("configs/default.json"), List.of("--model_name_or_path", model.toString()));
    assertInputError(r, weights + ", tensor 'model.norm.weight': holds NaN at element 3");
  }

  @Test
  void fullDiskNamesTheFileAndKeepsThePreviousCheckpoint() throws Exception {
    Path mount = work.resolve("tiny-disk");
    Files.createDirectories(mount);
    // 9 MB hold checkpoint-1 of the tiny model (about 5.6 MB with the run's files) but not checkpoint-2.
    Process m = new ProcessBuilder("mount", "-t", "tmpfs", "-o", "size=9M", "tmpfs", mount.toString())
        .redirectErrorStream(true).start();
    assumeTrue(m.waitFor(30, TimeUnit.SECONDS) && m.exitValue() == 0, "needs root to mount a small tmpfs");
    try {
      Path dir = mount.resolve("run");
      Tools.Result r = Tools.run(Tools.TRAIN, Tools.trainArgs(dir, List.of("--max_steps", "4", "--save_steps", "1")),
          work.resolve("full.log")).noTrace();
      assertEquals(1, r.status(), r.output());
      assertTrue(r.output().contains("error: no space left on the device: " + dir + "/.tmp-checkpoint-2"), r.output());
      assertTrue(CheckpointVerifier.verify(dir.resolve("checkpoint-1")).ok(), "the previous checkpoint is intact");
      assertEquals("checkpoint-1", Files.readString(dir.resolve("latest")).trim());
      try (Stream<Path> files = Files.list(dir)) {
        assertTrue(files.noneMatch(f -> f.getFileName().toString().startsWith(".tmp-")), "the partial save is removed");
      }
    } finally {
      new ProcessBuilder("umount", mount.toString()).start().waitFor(30, TimeUnit.SECONDS);
    }
  }

  // ---- helpers ----

  static void assertInputError(Tools.Result r, String expected) {
    r.noTrace();
    assertEquals(2, r.status(), r.output());
    assertTrue(r.output().contains("error: "), r.output());
    assertTrue(r.output().contains(expected), r.output());
  }

  Tools.Result train(Path config, List<String> extra) throws Exception {
    List<String> args = new ArrayList<>(List.of(config.toString(), "--output_dir", work.resolve("out").toString(),
        "--report_to", "none", "--max_steps", "1"));
    args.addAll(extra);
    return Tools.run(Tools.TRAIN, args, work.resolve("train-" + System.nanoTime() + ".log"));
  }

  /** A config file with the model and data of the default one, and {@code line} as its third member. */
  Path config(String line) throws IOException {
    Path file = work.resolve("config.json");
    Files.writeString(file, "{\n  \"model_name_or_path\": \"" + MODEL + "\",\n  \"train_dataset_path\": \"" + DATA
        + "\",\n  " + line + "\n}\n");
    return file;
  }

  Path copyModel() throws IOException {
    Path model = work.resolve("model");
    Files.createDirectories(model);
    try (Stream<Path> files = Files.list(MODEL)) {
      for (Path f : files.toList()) {
        Files.copy(f, model.resolve(f.getFileName()));
      }
    }
    return model;
  }

  static int indexOf(byte[] bytes, byte b) {
    for (int i = 0; i < bytes.length; i++) {
      if (bytes[i] == b) {
        return i;
      }
    }
    return -1;
  }

  static byte[] concat(byte[]... parts) {
    int n = 0;
    for (byte[] p : parts) {
      n += p.length;
    }
    ByteBuffer b = ByteBuffer.allocate(n);
    for (byte[] p : parts) {
      b.put(p);
    }
    return b.array();
  }
}
