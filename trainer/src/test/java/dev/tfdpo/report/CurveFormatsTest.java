package dev.tfdpo.report;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class CurveFormatsTest {

  @TempDir Path dir;

  @Test
  void metricsJsonlWithEvalLines() throws IOException {
    RunCurves curves = CurveFormats.read(Fixtures.resource("metrics.jsonl"), List.of());
    assertEquals("metrics.jsonl", curves.format());
    assertEquals(Map.of(1L, 0.6931, 2L, 0.6931, 3L, 0.6864), curves.series("loss"));
    assertEquals(Map.of(1L, 0.0, 2L, 0.00025, 3L, 0.0005), curves.series("learning_rate"));
    assertEquals(Map.of(2L, 0.6925, 4L, 0.68), curves.series("eval_loss"));
    assertEquals(Map.of(2L, 0.5, 4L, 0.75), curves.series("eval_rewards/accuracies"));
    assertEquals(Map.of(3L, -0.0075, 1L, 0.0, 2L, 0.0), curves.series("rewards/chosen"));
    assertFalse(curves.has("step"));
  }

  @Test
  void trlGoldenCurveIgnoresNestedFields() throws IOException {
    RunCurves curves = CurveFormats.read(Fixtures.resource("curve.jsonl"), List.of());
    assertEquals(Map.of(1L, 17.398027420043945, 2L, 16.076343536376953, 3L, 15.659010887145996),
        curves.series("grad_norm"));
    assertEquals(Set.of("loss", "grad_norm", "learning_rate", "entropy", "num_tokens", "rewards/chosen",
        "rewards/margins", "epoch", "tokens_real", "step_time_s"), curves.metrics());
  }

  @Test
  void trainerStateSkipsTheSummaryEntry() throws IOException {
    RunCurves curves = CurveFormats.read(Fixtures.resource("trainer_state.json"), List.of());
    assertEquals("trainer_state.json", curves.format());
    assertEquals(Map.of(1L, 0.6931, 2L, 0.6931, 3L, 0.6864), curves.series("loss"));
    assertEquals(Map.of(2L, 0.6925), curves.series("eval_loss"));
    assertEquals(Map.of(2L, 0.001), curves.series("eval_rewards/chosen"));
    assertEquals(Map.of(1L, -1099.04, 2L, -759.77, 3L, -1020.26), curves.series("logps/chosen"));
    assertFalse(curves.has("train_loss"));
    assertFalse(curves.has("total_flos"));
    assertFalse(curves.series("epoch").containsKey(4L), "the summary entry's epoch is not a point");
  }

  @Test
  void trlStepsJson() throws IOException {
    RunCurves curves = CurveFormats.read(Fixtures.resource("trl_steps.json"), List.of());
    assertEquals("steps-json", curves.format());
    assertEquals(Map.of(1L, 17.39, 2L, 16.07, 3L, 15.65), curves.series("grad_norm"));
    assertEquals(Set.of("loss", "grad_norm", "rewards/chosen"), curves.metrics());
  }

  @Test
  void mindSpeedBaselineStepsFromOne() throws IOException {
    RunCurves curves = CurveFormats.read(Fixtures.resource("mindspeed_baseline.json"), List.of());
    assertEquals("baseline-arrays-json", curves.format());
    assertEquals(Map.of(1L, 10.85, 2L, 10.62, 3L, 10.41, 4L, 10.20), curves.series("loss"));
    assertEquals(Map.of(1L, 5.5, 2L, 4.25, 3L, 3.0, 4L, 2.75), curves.series("grad_norm"));
    assertEquals(1e-05, curves.series("learning_rate").get(1L));
    assertEquals(Set.of("loss", "grad_norm", "learning_rate", "throughput"), curves.metrics());
  }

  @Test
  void wandbCsvUsesTheTrainerStepAndDropsBookkeeping() throws IOException {
    RunCurves curves = CurveFormats.read(Fixtures.resource("wandb.csv"), List.of());
    assertEquals("csv", curves.format());
    // Keyed by train/global_step, not W&B's _step (the eval row has _step 2 but global step 2).
    assertEquals(Map.of(1L, 0.6931, 2L, 0.6931, 3L, 0.6864), curves.series("loss"));
    assertEquals(Map.of(2L, 0.6925), curves.series("eval_loss"));
    assertEquals(Map.of(1L, 0.0, 2L, 0.00025, 3L, 0.0005), curves.series("learning_rate"));
    assertEquals(Set.of("loss", "grad_norm", "eval_loss", "learning_rate"), curves.metrics(),
        "no _runtime, __MIN/__MAX bands or the text column 'note'");
  }

  @Test
  void wandbPanelCsvDropsTheRunName() throws IOException {
    RunCurves curves = CurveFormats.read(Fixtures.resource("wandb-panel.csv"), List.of());
    assertEquals(Set.of("rewards/margins"), curves.metrics());
    assertEquals(0.0141, curves.series("rewards/margins").get(3L));
  }

  @Test
  void tensorBoardCsvNamedByTensorBoard() throws IOException {
    RunCurves curves = CurveFormats.read(Fixtures.resource("run-.-tag-train_grad_norm.csv"), List.of());
    assertEquals(Map.of(1L, 17.4, 2L, 16.1, 3L, 15.7), curves.series("grad_norm"));
  }

  @Test
  void tensorBoardCsvNamedByTheOnlyRequestedMetric() throws IOException {
    RunCurves curves = CurveFormats.read(Fixtures.resource("tensorboard-export.csv"), List.of("loss"));
    assertEquals(Map.of(1L, 0.6931, 2L, 0.6931, 3L, 0.6864), curves.series("loss"));
  }

  @Test
  void tensorBoardCsvWithoutAName() {
    ReportInputException error = assertThrows(ReportInputException.class,
        () -> CurveFormats.read(Fixtures.resource("tensorboard-export.csv"), List.of()));
    assertTrue(error.getMessage().contains("rename it after the metric"), error.getMessage());
  }

  @Test
  void tensorBoardCsvNamedLikeAMetric() throws IOException {
    Path file = Files.copy(Fixtures.resource("tensorboard-export.csv"), dir.resolve("loss.csv"));
    assertEquals(3, CurveFormats.read(file, List.of()).series("loss").size());
  }

  @Test
  void runDirectoryPrefersMetricsJsonl() throws IOException {
    Files.copy(Fixtures.resource("metrics.jsonl"), dir.resolve("metrics.jsonl"));
    try (TensorBoardWriter writer = new TensorBoardWriter(dir.resolve("runs"))) {
      writer.metrics(1, Map.of("loss", 9.0));
    }
    RunCurves curves = CurveFormats.read(dir, List.of());
    assertEquals(dir.resolve("metrics.jsonl"), curves.source());
  }

  @Test
  void runDirectoryWithOnlyEventFiles() throws IOException {
    try (TensorBoardWriter writer = new TensorBoardWriter(dir.resolve("runs"))) {
      writer.metrics(1, Map.of("loss", 0.5));
    }
    RunCurves curves = CurveFormats.read(dir, List.of());
    assertEquals("tensorboard", curves.format());
    assertEquals(Map.of(1L, 0.5), curves.series("loss"));
  }

  @Test
  void runDirectoryWithTrainerState() throws IOException {
    Files.copy(Fixtures.resource("trainer_state.json"), dir.resolve("trainer_state.json"));
    assertEquals("trainer_state.json", CurveFormats.read(dir, List.of()).format());
  }

  @Test
  void emptyDirectoryIsNotARun() {
    ReportInputException error = assertThrows(ReportInputException.class,
        () -> CurveFormats.read(dir, List.of()));
    assertTrue(error.getMessage().contains("not a run directory"), error.getMessage());
  }

  @Test
  void missingFile() {
    ReportInputException error = assertThrows(ReportInputException.class,
        () -> CurveFormats.read(dir.resolve("nope.jsonl"), List.of()));
    assertTrue(error.getMessage().endsWith("nope.jsonl: no such file or directory"), error.getMessage());
  }

  @Test
  void unknownFormatListsTheSupportedOnes() throws IOException {
    Path file = Fixtures.write(dir, "notes.txt", "hello\nworld\n");
    ReportInputException error = assertThrows(ReportInputException.class,
        () -> CurveFormats.read(file, List.of()));
    assertTrue(error.getMessage().contains("unknown format"), error.getMessage());
    for (CurveFormat format : CurveFormats.FORMATS) {
      assertTrue(error.getMessage().contains(format.name()), error.getMessage());
    }
  }

  @Test
  void emptyFile() throws IOException {
    Path file = Fixtures.write(dir, "metrics.jsonl", "");
    ReportInputException error = assertThrows(ReportInputException.class,
        () -> CurveFormats.read(file, List.of()));
    assertTrue(error.getMessage().contains("the file is empty"), error.getMessage());
  }

  @Test
  void jsonObjectWithoutCurvesIsUnknown() throws IOException {
    Path file = Fixtures.write(dir, "config.json", "{\"beta\": 0.1, \"model\": \"x\"}");
    assertThrows(ReportInputException.class, () -> CurveFormats.read(file, List.of()));
  }

  @Test
  void malformedJsonlLineNamesTheLine() throws IOException {
    Path file = Fixtures.write(dir, "metrics.jsonl", "{\"step\": 1, \"loss\": 0.5}\n{\"step\": 2, \"lo");
    ReportInputException error = assertThrows(ReportInputException.class,
        () -> CurveFormats.read(file, List.of()));
    assertTrue(error.getMessage().contains("metrics.jsonl:2: not valid JSON"), error.getMessage());
  }

  @Test
  void jsonlLineWithoutStep() throws IOException {
    Path file = Fixtures.write(dir, "metrics.jsonl", "{\"step\": 1, \"loss\": 0.5}\n{\"loss\": 0.4}\n");
    ReportInputException error = assertThrows(ReportInputException.class,
        () -> CurveFormats.read(file, List.of()));
    assertTrue(error.getMessage().contains("metrics.jsonl:2: expected an integer \"step\""),
        error.getMessage());
  }

  @Test
  void nanIsKeptAsAValue() throws IOException {
    // Python's json.dumps writes bare NaN; the comparison, not the reader, decides what it means.
    Path file = Fixtures.write(dir, "metrics.jsonl", "{\"step\": 1, \"loss\": NaN, \"grad_norm\": 2.0}\n");
    RunCurves curves = CurveFormats.read(file, List.of());
    assertTrue(Double.isNaN(curves.series("loss").get(1L)));
  }

  @Test
  void laterValueForTheSameStepWins() throws IOException {
    Path file = Fixtures.write(dir, "metrics.jsonl",
        "{\"step\": 1, \"loss\": 0.5}\n{\"step\": 2, \"loss\": 0.4}\n{\"step\": 2, \"loss\": 0.3}\n");
    assertEquals(Map.of(1L, 0.5, 2L, 0.3), CurveFormats.read(file, List.of()).series("loss"));
  }
}
