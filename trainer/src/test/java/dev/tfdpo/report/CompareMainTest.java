package dev.tfdpo.report;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class CompareMainTest {

  @TempDir Path dir;

  private Path out;
  private String stdout;
  private String stderr;

  @BeforeEach
  void outputDir() {
    out = dir.resolve("cmp");
  }

  private int compare(String... args) {
    ByteArrayOutputStream o = new ByteArrayOutputStream();
    ByteArrayOutputStream e = new ByteArrayOutputStream();
    int status = CompareMain.run(args, new PrintStream(o, true, StandardCharsets.UTF_8),
        new PrintStream(e, true, StandardCharsets.UTF_8));
    stdout = o.toString(StandardCharsets.UTF_8);
    stderr = e.toString(StandardCharsets.UTF_8);
    return status;
  }

  private Path jsonl(String name, double... losses) throws IOException {
    StringBuilder text = new StringBuilder();
    for (int i = 0; i < losses.length; i++) {
      text.append("{\"step\": ").append(i + 1).append(", \"loss\": ").append(losses[i])
          .append(", \"grad_norm\": ").append(10.0 + i).append("}\n");
    }
    return Fixtures.write(dir, name, text.toString());
  }

  @Test
  void withoutOutTheResultsGoNextToTheInputs() throws IOException {
    for (String run : List.of("run-a", "run-b")) {
      Files.createDirectories(dir.resolve(run));
      Files.copy(Fixtures.resource("metrics.jsonl"), dir.resolve(run).resolve("metrics.jsonl"));
    }
    int status = compare(dir.resolve("run-a/metrics.jsonl").toString(), dir.resolve("run-b/metrics.jsonl").toString());
    assertEquals(CompareMain.AGREE, status, stdout + stderr);
    assertTrue(Files.isRegularFile(dir.resolve("run-a/compare-run-a-vs-run-b/comparison.json")), stdout);
    assertEquals(Path.of("/w/compare-a-vs-b"), CompareMain.besideInputs(Path.of("/w/a"), Path.of("/x/b")));
  }

  @Test
  void agreeingRunsExitZeroAndWriteOutputs() throws IOException {
    // Our metrics.jsonl fixture against the W&B export of the same numbers.
    int status = compare(Fixtures.resource("metrics.jsonl").toString(),
        Fixtures.resource("wandb.csv").toString(), "--out", out.toString());
    assertEquals(CompareMain.AGREE, status, stdout + stderr);
    assertTrue(stdout.contains("verdict: PASS (all 3 metrics agree)"), stdout);
    assertTrue(stdout.matches("(?s).*loss\\s+3\\s+0\\s+1\\s+0\\s+1\\s+abs 1e-04\\s+PASS.*"), stdout);

    JsonObject json = JsonParser.parseString(Files.readString(out.resolve("comparison.json")))
        .getAsJsonObject();
    assertEquals("PASS", json.get("verdict").getAsString());
    assertEquals("metrics.jsonl", json.getAsJsonObject("run_a").get("format").getAsString());
    assertEquals("csv", json.getAsJsonObject("run_b").get("format").getAsString());
    assertEquals(3, json.getAsJsonArray("metrics").size());

    BufferedImage png = ImageIO.read(out.resolve("loss.png").toFile());
    assertEquals(Charts.WIDTH, png.getWidth());
    assertEquals(Charts.HEIGHT + Charts.DIFF_HEIGHT, png.getHeight());
    assertTrue(Files.exists(out.resolve("learning_rate.png")));
    assertTrue(Files.exists(out.resolve("grad_norm.png")));
  }

  @Test
  void differingRunsExitOne() throws IOException {
    // loss step 2: |0.6 - 0.6003| = 3e-4 > abs 1e-4 -> FAIL; grad_norm equal -> PASS.
    Path a = jsonl("a.jsonl", 0.7, 0.6);
    Path b = jsonl("b.jsonl", 0.7, 0.6003);
    int status = compare(a.toString(), b.toString(), "--out", out.toString());
    assertEquals(CompareMain.DIFFER, status, stdout + stderr);
    assertTrue(stdout.contains("verdict: FAIL (1 of 2 metrics differ: loss)"), stdout);
    assertTrue(stdout.contains("FAIL (1 step, first 2)"), stdout);
    JsonObject loss = JsonParser.parseString(Files.readString(out.resolve("comparison.json")))
        .getAsJsonObject().getAsJsonArray("metrics").get(0).getAsJsonObject();
    assertEquals(3e-4, loss.get("max_abs_deviation").getAsDouble(), 1e-12);
    assertEquals(2, loss.get("max_abs_step").getAsLong());
    assertEquals(2, loss.get("first_failing_step").getAsLong());
  }

  @Test
  void looserToleranceMakesThemAgree() throws IOException {
    Path a = jsonl("a.jsonl", 0.7, 0.6);
    Path b = jsonl("b.jsonl", 0.7, 0.6003);
    assertEquals(CompareMain.AGREE,
        compare(a.toString(), b.toString(), "--tolerance", "loss=1e-3", "--out", out.toString()), stderr);
    assertEquals(CompareMain.AGREE,
        compare(a.toString(), b.toString(), "--tolerance", "1e-3", "--out", out.toString()), stderr);
  }

  @Test
  void metricsOptionAcceptsOtherFrameworksNames() throws IOException {
    Path a = jsonl("a.jsonl", 0.7, 0.6);
    Path b = Fixtures.write(dir, "baseline.json", "{\"lm loss\": [0.7, 0.6], \"grad norm\": [10.0, 11.0]}");
    int status = compare(a.toString(), b.toString(), "--metrics", "lm loss,train/grad_norm",
        "--out", out.toString());
    assertEquals(CompareMain.AGREE, status, stdout + stderr);
    assertTrue(stdout.contains("verdict: PASS (all 2 metrics agree)"), stdout);
  }

  @Test
  void missingFileExitsTwo() throws IOException {
    Path a = jsonl("a.jsonl", 0.7);
    assertEquals(CompareMain.UNUSABLE, compare(a.toString(), dir.resolve("gone.jsonl").toString()));
    assertTrue(stderr.contains("gone.jsonl: no such file or directory"), stderr);
  }

  @Test
  void unknownFormatExitsTwo() throws IOException {
    Path a = jsonl("a.jsonl", 0.7);
    Path b = Fixtures.write(dir, "b.txt", "loss was low\n");
    assertEquals(CompareMain.UNUSABLE, compare(a.toString(), b.toString()));
    assertTrue(stderr.contains("unknown format"), stderr);
  }

  @Test
  void noCommonStepsExitsTwo() throws IOException {
    Path a = jsonl("a.jsonl", 0.7);
    Path b = Fixtures.write(dir, "b.jsonl", "{\"step\": 5, \"loss\": 0.7}\n");
    assertEquals(CompareMain.UNUSABLE, compare(a.toString(), b.toString(), "--out", out.toString()));
    assertTrue(stderr.contains("no common steps"), stderr);
  }

  @Test
  void nanExitsTwo() throws IOException {
    Path a = jsonl("a.jsonl", 0.7, 0.6);
    Path b = Fixtures.write(dir, "b.jsonl",
        "{\"step\": 1, \"loss\": 0.7, \"grad_norm\": 10.0}\n{\"step\": 2, \"loss\": NaN, \"grad_norm\": 11.0}\n");
    assertEquals(CompareMain.UNUSABLE, compare(a.toString(), b.toString(), "--out", out.toString()));
    assertTrue(stderr.contains("metric loss is NaN at step 2 in run B"), stderr);
  }

  @Test
  void noCommonMetricExitsTwo() throws IOException {
    Path a = jsonl("a.jsonl", 0.7);
    Path b = Fixtures.write(dir, "b.jsonl", "{\"step\": 1, \"entropy\": 6.3}\n");
    assertEquals(CompareMain.UNUSABLE, compare(a.toString(), b.toString()));
    assertTrue(stderr.contains("share none of the default metrics"), stderr);
  }

  @Test
  void badArgumentsExitTwo() throws IOException {
    Path a = jsonl("a.jsonl", 0.7);
    assertEquals(CompareMain.UNUSABLE, compare(a.toString()));
    assertTrue(stderr.contains("expected two runs, got 1"), stderr);
    assertEquals(CompareMain.UNUSABLE, compare(a.toString(), a.toString(), "--bogus"));
    assertTrue(stderr.contains("unknown option --bogus"), stderr);
    assertEquals(CompareMain.UNUSABLE, compare(a.toString(), a.toString(), "--tolerance"));
    assertTrue(stderr.contains("--tolerance needs a value"), stderr);
    assertEquals(CompareMain.UNUSABLE, compare(a.toString(), a.toString(), "--tolerance", "loss=x"));
    assertTrue(stderr.contains("--tolerance entry \"loss=x\""), stderr);
  }

  @Test
  void helpExitsZero() {
    assertEquals(0, compare("--help"));
    assertTrue(stdout.startsWith("usage: compare.sh"), stdout);
  }
}
