package dev.tfdpo.io.checkpoint;

import static dev.tfdpo.io.checkpoint.CheckpointFixtures.stepContent;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import java.util.OptionalLong;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class CheckpointVerifierTest {

  @TempDir Path out;
  private Path dir;

  @BeforeEach
  void save() throws IOException {
    dir = new CheckpointWriter(out, 0).save(7, stepContent(7)).directory();
  }

  private static List<CheckpointVerifier.Problem> problems(Path dir) {
    return CheckpointVerifier.verify(dir).problems();
  }

  @Test
  void intactCheckpointVerifies() {
    CheckpointVerifier.Verification verification = CheckpointVerifier.verify(dir);
    assertTrue(verification.ok());
    assertEquals(OptionalLong.of(7), verification.step());
    assertEquals("verified (sizes and SHA-256)", verification.describe());
  }

  @Test
  void missingManifest() throws IOException {
    Files.delete(dir.resolve(Checkpoints.MANIFEST));
    CheckpointVerifier.Verification verification = CheckpointVerifier.verify(dir);
    assertEquals(
        List.of(
            new CheckpointVerifier.Problem(
                "manifest.json", "missing: the save did not finish, or the file was deleted")),
        verification.problems());
    assertEquals(OptionalLong.empty(), verification.step());
  }

  @Test
  void missingFile() throws IOException {
    Files.delete(dir.resolve("optimizer/state.bin"));
    assertEquals(List.of(new CheckpointVerifier.Problem("optimizer/state.bin", "missing")), problems(dir));
  }

  @Test
  void truncatedFile() throws IOException {
    try (FileChannel channel = FileChannel.open(dir.resolve("model.safetensors"), StandardOpenOption.WRITE)) {
      channel.truncate(5);
    }
    List<CheckpointVerifier.Problem> expected =
        List.of(new CheckpointVerifier.Problem("model.safetensors", "truncated: 5 of 17 bytes"));
    assertEquals(expected, problems(dir));
    assertEquals(expected, CheckpointVerifier.verifySizes(dir).problems(), "sizes alone catch truncation");
  }

  @Test
  void grownFile() throws IOException {
    Files.writeString(dir.resolve("trainer_state.json"), "{\"global_step\": 7, \"extra\": 1}");
    assertEquals(
        List.of(new CheckpointVerifier.Problem("trainer_state.json", "has 30 bytes, the manifest says 18")),
        problems(dir));
  }

  @Test
  void sameSizeWrongContentIsAChecksumMismatch() throws IOException {
    Files.writeString(dir.resolve("model.safetensors"), "weights at step 8");
    assertTrue(CheckpointVerifier.verifySizes(dir).ok(), "a size check cannot see it");
    List<CheckpointVerifier.Problem> found = problems(dir);
    assertEquals(1, found.size());
    assertEquals("model.safetensors", found.get(0).file());
    assertTrue(found.get(0).reason().startsWith("checksum mismatch: SHA-256 is "), found.get(0).reason());
    assertTrue(found.get(0).reason().endsWith("; the file is corrupt"), found.get(0).reason());
  }

  @Test
  void everyProblemIsListed() throws IOException {
    Files.delete(dir.resolve("optimizer/state.bin"));
    Files.writeString(dir.resolve("model.safetensors"), "x");
    CheckpointVerifier.Verification verification = CheckpointVerifier.verify(dir);
    assertEquals(2, verification.problems().size());
    assertEquals(
        "model.safetensors: truncated: 1 of 17 bytes; optimizer/state.bin: missing", verification.describe());
  }

  @Test
  void malformedManifestOrRenamedDirectory() throws IOException {
    Files.writeString(dir.resolve(Checkpoints.MANIFEST), "{\"format\": \"tfdpo-checkpoint\", \"files\": [");
    List<CheckpointVerifier.Problem> broken = problems(dir);
    assertEquals("manifest.json", broken.get(0).file());
    assertTrue(broken.get(0).reason().contains("not valid JSON"), broken.get(0).reason());

    Path other = out.resolve("checkpoint-8");
    new CheckpointWriter(out, 0).save(9, stepContent(9));
    Files.move(out.resolve("checkpoint-9"), other);
    assertEquals(
        List.of(
            new CheckpointVerifier.Problem(
                "manifest.json", "records step 9, but the directory is named for step 8")),
        problems(other));
  }

  @Test
  void manifestFromANewerFormatOrWithUnsafePaths() throws IOException {
    String sha = "0".repeat(64);
    Files.writeString(
        dir.resolve(Checkpoints.MANIFEST),
        "{\"format\": \"tfdpo-checkpoint\", \"format_version\": 2, \"step\": 7, \"files\": []}");
    assertTrue(problems(dir).get(0).reason().contains("format_version 2 is not one this build reads"));

    Files.writeString(
        dir.resolve(Checkpoints.MANIFEST),
        "{\"format\": \"tfdpo-checkpoint\", \"format_version\": 1, \"step\": 7, \"files\": "
            + "[{\"path\": \"../../etc/passwd\", \"size\": 1, \"sha256\": \"" + sha + "\"}]}");
    assertTrue(problems(dir).get(0).reason().contains("not a relative path inside the checkpoint"));
  }

  @Test
  void missingDirectory() {
    CheckpointVerifier.Verification verification = CheckpointVerifier.verify(out.resolve("checkpoint-99"));
    assertFalse(verification.ok());
    assertEquals(".: not a directory, or does not exist", verification.describe());
  }
}
