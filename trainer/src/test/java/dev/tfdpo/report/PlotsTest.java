package dev.tfdpo.report;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class PlotsTest {

  @TempDir Path dir;

  @Test
  void lossChartIsAPngOfTheStatedSize() throws IOException {
    Path png = dir.resolve("nested/loss.png");
    Plots.writeLossChart(Fixtures.resource("metrics.jsonl"), png);
    BufferedImage image = ImageIO.read(png.toFile());
    assertEquals(Charts.WIDTH, image.getWidth());
    assertEquals(Charts.HEIGHT, image.getHeight());
  }

  @Test
  void lossChartNeedsALoss() throws IOException {
    Path file = Fixtures.write(dir, "metrics.jsonl", "{\"step\": 1, \"grad_norm\": 2.0}\n");
    ReportInputException error = assertThrows(ReportInputException.class,
        () -> Plots.writeLossChart(file, dir.resolve("loss.png")));
    assertTrue(error.getMessage().contains("no finite \"loss\""), error.getMessage());
  }

  @Test
  void plotMainWritesEveryChartOfARunDirectory() throws IOException {
    Path run = dir.resolve("run");
    Files.createDirectories(run);
    Files.copy(Fixtures.resource("metrics.jsonl"), run.resolve("metrics.jsonl"));
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    int status = PlotMain.run(new String[] {run.toString()},
        new PrintStream(out, true, StandardCharsets.UTF_8), System.err);
    assertEquals(0, status, out.toString(StandardCharsets.UTF_8));
    for (String name : List.of("loss.png", "rewards.png", "rewards_margins.png", "rewards_accuracies.png",
        "grad_norm.png", "learning_rate.png", "eval_loss.png")) {
      BufferedImage image = ImageIO.read(run.resolve("plots").resolve(name).toFile());
      assertEquals(Charts.WIDTH, image.getWidth(), name);
      assertEquals(Charts.HEIGHT, image.getHeight(), name);
    }
  }

  @Test
  void plotMainSkipsAbsentMetrics() throws IOException {
    Path file = Fixtures.write(dir, "metrics.jsonl", "{\"step\": 1, \"loss\": 0.7}\n{\"step\": 2, \"loss\": 0.6}\n");
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    int status = PlotMain.run(new String[] {file.toString(), "--out", dir.resolve("p").toString()},
        new PrintStream(out, true, StandardCharsets.UTF_8), System.err);
    assertEquals(0, status);
    String text = out.toString(StandardCharsets.UTF_8);
    assertTrue(text.contains("skipped grad_norm.png: no grad_norm"), text);
    assertTrue(Files.exists(dir.resolve("p/loss.png")));
    assertTrue(!Files.exists(dir.resolve("p/grad_norm.png")));
  }

  @Test
  void plotMainOnUnusableInputExitsTwo() throws IOException {
    ByteArrayOutputStream err = new ByteArrayOutputStream();
    PrintStream errStream = new PrintStream(err, true, StandardCharsets.UTF_8);
    assertEquals(2, PlotMain.run(new String[] {dir.resolve("missing").toString()}, System.out, errStream));
    assertTrue(err.toString(StandardCharsets.UTF_8).contains("no such file or directory"));
    Path onlyEntropy = Fixtures.write(dir, "m.jsonl", "{\"step\": 1, \"entropy\": 6.3}\n");
    assertEquals(2, PlotMain.run(new String[] {onlyEntropy.toString()}, System.out, errStream));
    assertTrue(err.toString(StandardCharsets.UTF_8).contains("has none of the plotted metrics"));
    assertEquals(2, PlotMain.run(new String[] {}, System.out, errStream));
  }
}
