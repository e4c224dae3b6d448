package dev.tfdpo.io.checkpoint;

import static dev.tfdpo.io.checkpoint.CheckpointFixtures.stepContent;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import java.util.OptionalLong;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class CheckpointLocatorTest {

  @TempDir Path out;

  private void saveSteps(long... steps) throws IOException {
    CheckpointWriter writer = new CheckpointWriter(out, 0);
    for (long step : steps) {
      writer.save(step, stepContent(step));
    }
  }

  private Path checkpoint(long step) {
    return out.resolve("checkpoint-" + step);
  }

  @Test
  void autoTakesTheCheckpointLatestNames() throws IOException {
    saveSteps(300, 100);
    CheckpointLocator.Resolution resolution = CheckpointLocator.resolve(out, "auto");
    assertEquals(Optional.of(checkpoint(100)), resolution.checkpoint());
    assertEquals(OptionalLong.of(100), resolution.step());
    assertEquals(List.of(), resolution.skipped());
    assertTrue(resolution.reason().startsWith("named by 'latest'"), resolution.reason());
  }

  @Test
  void autoFallsBackToThePreviousGoodCheckpoint() throws IOException {
    saveSteps(100, 200, 300);
    Files.writeString(checkpoint(300).resolve("model.safetensors"), "weights at step 301");
    Files.delete(checkpoint(200).resolve("optimizer/state.bin"));

    CheckpointLocator.Resolution resolution = CheckpointLocator.resolve(out, "auto");
    assertEquals(Optional.of(checkpoint(100)), resolution.checkpoint());
    assertEquals(2, resolution.skipped().size());
    CheckpointLocator.Skipped first = resolution.skipped().get(0);
    assertEquals(checkpoint(300), first.directory());
    String expectedStart = "named by 'latest' but model.safetensors: checksum mismatch";
    assertTrue(first.reason().startsWith(expectedStart), first.reason());
    assertEquals(
        new CheckpointLocator.Skipped(checkpoint(200), "optimizer/state.bin: missing"),
        resolution.skipped().get(1));
    assertTrue(resolution.reason().contains("after the one 'latest' named failed"), resolution.reason());
  }

  @Test
  void withoutLatestTheHighestStepWinsNumerically() throws IOException {
    saveSteps(200, 1000, 30);
    Files.delete(out.resolve(Checkpoints.LATEST));
    CheckpointLocator.Resolution resolution = CheckpointLocator.resolve(out, "auto");
    assertEquals(Optional.of(checkpoint(1000)), resolution.checkpoint());
    assertTrue(resolution.reason().contains("no 'latest' marker"), resolution.reason());
  }

  @Test
  void latestNamingSomethingElseIsReportedAndSkipped() throws IOException {
    saveSteps(100);
    Files.writeString(out.resolve(Checkpoints.LATEST), "../elsewhere/checkpoint-900\n");
    CheckpointLocator.Resolution resolution = CheckpointLocator.resolve(out, "auto");
    assertEquals(Optional.of(checkpoint(100)), resolution.checkpoint());
    CheckpointLocator.Skipped skipped = resolution.skipped().get(0);
    assertEquals(out.resolve(Checkpoints.LATEST), skipped.directory());
    assertTrue(skipped.reason().contains("names '../elsewhere/checkpoint-900'"), skipped.reason());
  }

  @Test
  void temporariesAndUnrelatedDirectoriesAreIgnored() throws IOException {
    saveSteps(100, 200);
    // A complete-looking leftover of a crash must never be resumed from.
    Files.move(checkpoint(200), out.resolve(".tmp-checkpoint-200-ab12"));
    Files.createDirectories(out.resolve("checkpoint-final"));
    CheckpointLocator.Resolution resolution = CheckpointLocator.resolve(out, "auto");
    assertEquals(Optional.of(checkpoint(100)), resolution.checkpoint());
    assertEquals(1, resolution.skipped().size(), "only the marker naming the vanished checkpoint-200");
  }

  @Test
  void noCheckpointGivesAnEmptyResultWithTheReason() throws IOException {
    CheckpointLocator.Resolution missingDir = CheckpointLocator.resolve(out.resolve("absent"), "auto");
    assertFalse(missingDir.found());
    assertTrue(missingDir.reason().contains("does not exist"), missingDir.reason());

    CheckpointLocator.Resolution empty = CheckpointLocator.resolve(out, "auto");
    assertFalse(empty.found());
    assertEquals("no checkpoint-N directories in " + out, empty.reason());

    saveSteps(1, 2);
    Files.delete(checkpoint(1).resolve(Checkpoints.MANIFEST));
    Files.delete(checkpoint(2).resolve("model.safetensors"));
    CheckpointLocator.Resolution bad = CheckpointLocator.resolve(out, "auto");
    assertFalse(bad.found());
    assertEquals(OptionalLong.empty(), bad.step());
    assertEquals(2, bad.skipped().size());
    assertEquals("none of the 2 checkpoints in " + out + " verifies", bad.reason());
  }

  @Test
  void explicitCheckpointIsVerified() throws IOException {
    saveSteps(100, 200);
    CheckpointLocator.Resolution byPath = CheckpointLocator.resolve(out, checkpoint(100).toString());
    assertEquals(Optional.of(checkpoint(100)), byPath.checkpoint());
    assertEquals(OptionalLong.of(100), byPath.step());

    CheckpointLocator.Resolution byName = CheckpointLocator.resolve(out, "checkpoint-200");
    assertEquals(Optional.of(checkpoint(200)), byName.checkpoint());

    Files.delete(checkpoint(200).resolve("trainer_state.json"));
    CheckpointException bad =
        assertThrows(CheckpointException.class, () -> CheckpointLocator.resolve(out, "checkpoint-200"));
    String message = bad.getMessage();
    assertTrue(message.contains("fails verification: trainer_state.json: missing"), message);
    assertTrue(bad.getMessage().contains("'auto'"), bad.getMessage());

    CheckpointException missing =
        assertThrows(CheckpointException.class, () -> CheckpointLocator.resolve(out, "checkpoint-999"));
    assertTrue(missing.getMessage().contains("no such directory"), missing.getMessage());
  }
}
