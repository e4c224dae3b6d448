package dev.tfdpo.export;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The command line: arguments, exit codes, the refusal to overwrite, and what lands in OUT. */
class ExportMainTest {

  record Run(int status, String out, String err) {}

  static Run run(String... args) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    ByteArrayOutputStream err = new ByteArrayOutputStream();
    int status = ExportMain.run(args, new PrintStream(out, true, StandardCharsets.UTF_8),
        new PrintStream(err, true, StandardCharsets.UTF_8));
    return new Run(status, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
  }

  @Test
  void hfExportOfAnOutputDirWithCheckpoints(@TempDir Path tmp) throws IOException {
    Path runDir = tmp.resolve("run");
    ExportFixtures.checkpoint(runDir, 2, ExportFixtures.MID2, 0.1);
    ExportFixtures.checkpoint(runDir, 16, ExportFixtures.TRAINED, 0.1);
    Path out = tmp.resolve("exports/hf");
    Run r = run(runDir.toString(), out.toString(), "--format", "hf", "--dtype", "bfloat16", "--max-shard-size", "300KB");
    assertEquals(0, r.status(), r.err());
    assertTrue(r.out().contains("checkpoint-16"), r.out());
    assertTrue(Files.isRegularFile(out.resolve("model.safetensors.index.json")));
    assertTrue(Files.isRegularFile(out.resolve("tokenizer.json")));
    try (Stream<Path> shards = Files.list(out)) {
      long n = shards.filter(p -> p.getFileName().toString().endsWith(".safetensors")).count();
      assertTrue(n > 1, "sharded");
      assertTrue(r.out().contains(n + " weight files and model.safetensors.index.json"), "honest count: " + r.out());
    }
    try (Stream<Path> siblings = Files.list(out.getParent())) {
      assertEquals(1, siblings.count(), "no temporary directory is left next to OUT");
    }
  }

  @Test
  void aNonEmptyOutIsKeptUnlessOverwriteIsGiven(@TempDir Path tmp) throws IOException {
    Path state = ExportFixtures.stateDir(tmp.resolve("state"), ExportFixtures.TRAINED, 0.1);
    Path out = Files.createDirectories(tmp.resolve("out"));
    Files.writeString(out.resolve("keep.txt"), "mine");
    Run refused = run(state.toString(), out.toString(), "--format", "hf");
    assertEquals(2, refused.status());
    assertTrue(refused.err().contains("--overwrite"), refused.err());
    assertEquals("mine", Files.readString(out.resolve("keep.txt")));

    Run replaced = run(state.toString(), out.toString(), "--format", "hf", "--overwrite");
    assertEquals(0, replaced.status(), replaced.err());
    assertFalse(Files.exists(out.resolve("keep.txt")), "OUT is replaced as a whole");
    assertArrayEquals(Files.readAllBytes(ExportFixtures.TRAINED.resolve("model.safetensors")),
        Files.readAllBytes(out.resolve("model.safetensors")), "float32 export of a float32 file: the same bytes");

    Path empty = Files.createDirectories(tmp.resolve("empty"));
    assertEquals(0, run(state.toString(), empty.toString(), "--format", "hf").status(), "an empty OUT is fine");
  }

  @Test
  void outMayNotBeOrContainSrc(@TempDir Path tmp) throws IOException {
    Path runDir = tmp.resolve("run");
    Path checkpoint = ExportFixtures.checkpoint(runDir, 3, ExportFixtures.TRAINED, 0.1);
    Run same = run(checkpoint.toString(), checkpoint.toString(), "--format", "hf", "--overwrite");
    assertEquals(2, same.status());
    assertTrue(same.err().contains("is SRC"), same.err());
    Run parent = run(checkpoint.toString(), runDir.toString(), "--format", "hf", "--overwrite");
    assertEquals(2, parent.status());
    assertTrue(parent.err().contains("contains SRC"), parent.err());
    assertTrue(Files.isRegularFile(checkpoint.resolve("model.safetensors")));
  }

  @Test
  void savedModelNeedsTheRunsConfig(@TempDir Path tmp) throws IOException {
    Path plain = Files.createDirectories(tmp.resolve("plain"));
    for (String name : new String[] {"config.json", "model.safetensors"}) {
      Files.copy(ExportFixtures.TRAINED.resolve(name), plain.resolve(name), StandardCopyOption.REPLACE_EXISTING);
    }
    Run r = run(plain.toString(), tmp.resolve("sm").toString(), "--format", "savedmodel");
    assertEquals(2, r.status(), r.err());
    assertTrue(r.err().contains("resolved_config.json"), r.err());
    assertFalse(Files.exists(tmp.resolve("sm")), "nothing is left behind");
    try (Stream<Path> entries = Files.list(tmp)) {
      assertEquals(1, entries.count(), "no temporary directory is left behind");
    }

    Run hf = run(plain.toString(), tmp.resolve("hf").toString(), "--format", "hf");
    assertEquals(0, hf.status(), "a plain Hugging Face directory converts: " + hf.err());
  }

  @Test
  void anUnreadableRunConfigOnlyStopsTheSavedModel(@TempDir Path tmp) throws IOException {
    Path state = ExportFixtures.stateDir(tmp.resolve("state"), ExportFixtures.TRAINED, 0.1);
    Files.writeString(state.resolve("resolved_config.json"), "{\"model_name_or_path\": \"x\", \"no_such_key\": 1}");
    Run sm = run(state.toString(), tmp.resolve("sm").toString(), "--format", "savedmodel");
    assertEquals(2, sm.status());
    assertTrue(sm.err().contains("cannot be read") && sm.err().contains("no_such_key"), sm.err());
    Run hf = run(state.toString(), tmp.resolve("hf").toString(), "--format", "hf");
    assertEquals(0, hf.status(), hf.err());
  }

  @Test
  void badArgumentsExitWithTwo(@TempDir Path tmp) {
    String src = tmp.toString();
    String out = tmp.resolve("out").toString();
    assertBad(run(src, out), "missing --format");
    assertBad(run(src, "--format", "hf"), "missing OUT");
    assertBad(run(src, out, "--format", "onnx"), "hf or savedmodel");
    assertBad(run(src, out, "--format", "hf", "--dtype", "float16"), "float32 or bfloat16");
    assertBad(run(src, out, "--format", "hf", "--max-shard-size", "5Gb"), "5GB");
    assertBad(run(src, out, "--format", "savedmodel", "--dtype", "bfloat16"), "--format hf only");
    assertBad(run(src, out, "--format", "savedmodel", "--max-shard-size", "1GB"), "--format hf only");
    assertBad(run(src, out, "--format"), "needs a value");
    assertBad(run(src, out, "--format", "hf", "--shards", "3"), "unknown option --shards");
    assertBad(run(src, out, "third", "--format", "hf"), "unexpected argument third");
    assertEquals(0, run("--help").status());
  }

  @Test
  void aMissingSourceIsAnError(@TempDir Path tmp) {
    Run r = run(tmp.resolve("nope").toString(), tmp.resolve("out").toString(), "--format", "hf");
    assertEquals(2, r.status());
    assertTrue(r.err().contains("is not a directory"), r.err());
  }

  private static void assertBad(Run r, String message) {
    assertEquals(2, r.status(), r.err());
    assertTrue(r.err().contains(message), "expected '" + message + "' in: " + r.err());
  }
}
