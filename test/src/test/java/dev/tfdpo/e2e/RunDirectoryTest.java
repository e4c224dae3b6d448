package dev.tfdpo.e2e;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonParser;
import dev.tfdpo.data.BadRowsException;
import dev.tfdpo.export.ModelStateDir;
import dev.tfdpo.io.safetensors.SafeTensorsReader;
import dev.tfdpo.trainer.DpoTrainer;
import dev.tfdpo.trainer.config.ConfigException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A new run never mixes with an old one: refused in a finished run's directory unless
 * overwrite_output_dir (which removes the old files first); a run failing on its data writes nothing;
 * a killed new run never exposes the old model; export refuses weights and config of two runs.
 */
class RunDirectoryTest {

  @TempDir static Path work;
  static Path finished;
  static String runA;

  @BeforeAll
  static void finishRunA() throws Exception {
    finished = work.resolve("a");
    OutputDirLockTest.train(finished, List.of("--max_steps", "2", "--save_steps", "1"));
    runA = runId(finished.resolve(DpoTrainer.CONFIG_FILE));
    try (SafeTensorsReader r = SafeTensorsReader.open(finished)) {
      assertEquals(runA, r.metadata().get("run_id"), "the model carries the run's fingerprint");
    }
  }

  @Test
  void aNewRunIntoAFinishedRunsDirectoryIsRefusedAndWritesNothing() throws Exception {
    byte[] config = Files.readAllBytes(finished.resolve(DpoTrainer.CONFIG_FILE));
    ConfigException e = assertThrows(ConfigException.class,
        () -> OutputDirLockTest.train(finished, List.of("--learning_rate", "1e-3")));
    assertTrue(e.getMessage().contains("holds the outputs of another run"), e.getMessage());
    assertTrue(e.getMessage().contains("--resume_from_checkpoint auto"), e.getMessage());
    assertTrue(e.getMessage().contains("overwrite_output_dir: true"), e.getMessage());
    assertArrayEquals(config, Files.readAllBytes(finished.resolve(DpoTrainer.CONFIG_FILE)));
  }

  @Test
  void aRunFailingOnItsDataLeavesTheFinishedRunAsItWas() throws Exception {
    byte[] config = Files.readAllBytes(finished.resolve(DpoTrainer.CONFIG_FILE));
    byte[] model = Files.readAllBytes(finished.resolve("model.safetensors"));
    Path bad = work.resolve("bad.jsonl");
    Files.writeString(bad, "{\"prompt\": \"a\", \"chosen\": \"b\", \"rejected\": \"b\"}\n");
    assertThrows(BadRowsException.class, () -> OutputDirLockTest.train(finished,
        List.of("--overwrite_output_dir", "true", "--train_dataset_path", bad.toString())));
    assertArrayEquals(config, Files.readAllBytes(finished.resolve(DpoTrainer.CONFIG_FILE)));
    assertArrayEquals(model, Files.readAllBytes(finished.resolve("model.safetensors")));
    assertTrue(Files.isDirectory(finished.resolve("checkpoint-2")));
  }

  @Test
  void aKilledOverwritingRunNeverExposesTheOldModel() throws Exception {
    Path dir = work.resolve("killed");
    OutputDirLockTest.train(dir, List.of("--max_steps", "2", "--save_steps", "1"));
    String old = runId(dir.resolve(DpoTrainer.CONFIG_FILE));
    Process p = Tools.start(Tools.TRAIN, Tools.trainArgs(dir, List.of("--max_steps", "400", "--save_steps", "3",
        "--overwrite_output_dir", "true")), work.resolve("killed.log"), Map.of());
    try {
      ResumeTest.waitFor(p, () -> Files.isDirectory(dir.resolve("checkpoint-3")));
    } finally {
      p.destroyForcibly().waitFor(60, TimeUnit.SECONDS);
    }
    assertFalse(Files.exists(dir.resolve("model.safetensors")), "the old run's model is gone");
    assertFalse(Files.exists(dir.resolve("checkpoint-1")), "the old run's checkpoints are gone");
    String now = runId(dir.resolve(DpoTrainer.CONFIG_FILE));
    assertNotEquals(old, now);
    ModelStateDir exported = ModelStateDir.resolve(dir);
    assertEquals(now, runId(exported.directory().resolve(DpoTrainer.CONFIG_FILE)),
        "export takes the new run's newest checkpoint: " + exported.origin());
  }

  @Test
  void exportRefusesWeightsAndConfigOfTwoRuns() throws Exception {
    Path mixed = work.resolve("mixed");
    Files.createDirectories(mixed);
    for (String f : List.of("model.safetensors", "config.json", DpoTrainer.CONFIG_FILE)) {
      Files.copy(finished.resolve(f), mixed.resolve(f));
    }
    String text = Files.readString(mixed.resolve(DpoTrainer.CONFIG_FILE)).replace(runA, "another-run");
    Files.writeString(mixed.resolve(DpoTrainer.CONFIG_FILE), text);
    ConfigException e = assertThrows(ConfigException.class, () -> ModelStateDir.resolve(mixed));
    assertTrue(e.getMessage().contains("mixes two runs"), e.getMessage());
  }

  @Test
  void overwriteNeverRemovesTheRunsOwnInputs() throws Exception {
    byte[] model = Files.readAllBytes(finished.resolve("checkpoint-1/model.safetensors"));
    ConfigException e = assertThrows(ConfigException.class, () -> OutputDirLockTest.train(finished,
        List.of("--overwrite_output_dir", "true", "--model_name_or_path", finished.resolve("checkpoint-1").toString())));
    assertTrue(e.getMessage().contains("would remove the run's own input"), e.getMessage());
    assertArrayEquals(model, Files.readAllBytes(finished.resolve("checkpoint-1/model.safetensors")));
    Path modelDir = work.resolve("model-copy");
    ResumeTest.copyTree(Tools.ROOT.resolve("test/fixtures/tiny-llama-a"), modelDir);
    ConfigException same = assertThrows(ConfigException.class, () -> OutputDirLockTest.train(modelDir,
        List.of("--overwrite_output_dir", "true", "--model_name_or_path", modelDir.toString())));
    assertTrue(same.getMessage().contains("the run writes its final model there"), same.getMessage());
  }

  @Test
  void aRefusedStartLeavesNoDirectoryBehind() throws Exception {
    Path dir = work.resolve("never");
    assertThrows(Exception.class, () -> OutputDirLockTest.train(dir, List.of("--train_dataset_path", "missing.jsonl")));
    assertFalse(Files.exists(dir), "the lock's directory is removed again when nothing was written");
  }

  static String runId(Path resolvedConfig) throws IOException {
    return JsonParser.parseString(Files.readString(resolvedConfig)).getAsJsonObject().get("run_id").getAsString();
  }
}
