package dev.tfdpo.io.checkpoint;

import static dev.tfdpo.io.checkpoint.CheckpointFixtures.entries;
import static dev.tfdpo.io.checkpoint.CheckpointFixtures.files;
import static dev.tfdpo.io.checkpoint.CheckpointFixtures.stepContent;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class CheckpointWriterTest {

  @TempDir Path out;

  private static String sha256(String text) throws Exception {
    byte[] digest = MessageDigest.getInstance("SHA-256").digest(text.getBytes(StandardCharsets.UTF_8));
    return HexFormat.of().formatHex(digest);
  }

  private static Manifest.FileEntry entry(String path, String content) throws Exception {
    return new Manifest.FileEntry(path, content.getBytes(StandardCharsets.UTF_8).length, sha256(content));
  }

  private String latest() throws IOException {
    return Files.readString(out.resolve(Checkpoints.LATEST), StandardCharsets.UTF_8);
  }

  @Test
  void saveWritesManifestMarkerAndNothingElse() throws Exception {
    CheckpointWriter writer = new CheckpointWriter(out, 0);
    CheckpointWriter.SavedCheckpoint saved = writer.save(100, stepContent(100));

    Path dir = out.resolve("checkpoint-100");
    assertEquals(dir, saved.directory());
    assertEquals(100, saved.step());
    assertEquals(List.of("checkpoint-100", "latest"), entries(out));
    assertEquals("checkpoint-100\n", latest());
    assertEquals(
        List.of("manifest.json", "model.safetensors", "optimizer", "trainer_state.json"), entries(dir));

    Manifest manifest = Manifest.read(dir);
    assertEquals(saved.manifest(), manifest);
    assertEquals(Manifest.FORMAT_VERSION, manifest.formatVersion());
    assertEquals(100, manifest.step());
    assertEquals(
        List.of(
            entry("model.safetensors", "weights at step 100"),
            entry("optimizer/state.bin", "adam moments 100"),
            entry("trainer_state.json", "{\"global_step\": 100}")),
        manifest.files());
    assertTrue(CheckpointVerifier.verify(dir).ok(), CheckpointVerifier.verify(dir).describe());
  }

  @Test
  void crashInsideTheContentLeavesThePreviousCheckpoint() throws IOException {
    CheckpointWriter writer = new CheckpointWriter(out, 0);
    writer.save(100, stepContent(100));

    CheckpointWriter.Content crashing =
        dir -> {
          Files.writeString(dir.resolve("model.safetensors"), "half of the weigh");
          throw new IOException("simulated crash");
        };
    CheckpointSaveException e = assertThrows(CheckpointSaveException.class, () -> writer.save(200, crashing));
    assertTrue(e.getMessage().contains("simulated crash"), e.getMessage());
    assertFalse(e.diskFull());
    assertEquals(List.of("checkpoint-100", "latest"), entries(out), "no checkpoint-200 and no temporaries");
    assertEquals("checkpoint-100\n", latest());
    assertTrue(CheckpointVerifier.verify(out.resolve("checkpoint-100")).ok());

    IllegalStateException bug = new IllegalStateException("bug in the trainer");
    CheckpointWriter.Content buggy =
        dir -> {
          Files.writeString(dir.resolve("model.safetensors"), "x");
          throw bug;
        };
    assertSame(bug, assertThrows(IllegalStateException.class, () -> writer.save(200, buggy)));
    assertEquals(List.of("checkpoint-100", "latest"), entries(out));
  }

  @Test
  void fullDiskIsNamedAndThePreviousCheckpointKept() throws IOException {
    CheckpointWriter writer = new CheckpointWriter(out, 0);
    writer.save(100, stepContent(100));

    CheckpointWriter.Content full =
        dir -> {
          Files.writeString(dir.resolve("trainer_state.json"), "{}");
          throw new IOException("No space left on device");
        };
    CheckpointSaveException e = assertThrows(CheckpointSaveException.class, () -> writer.save(200, full));
    String message = e.getMessage();
    assertTrue(message.startsWith("saving checkpoint-200 in " + out + " failed: the disk is full"), message);
    assertTrue(message.contains("No space left on device"), message);
    String kept = "The previous checkpoint checkpoint-100 is kept and 'latest' is unchanged";
    assertTrue(message.contains(kept), message);
    assertTrue(message.contains("free disk space"), message);
    assertTrue(e.diskFull());
    assertEquals(200, e.step());
    assertEquals(Optional.of(out.resolve("checkpoint-100")), e.previous());
    assertEquals(List.of("checkpoint-100", "latest"), entries(out));
    assertEquals("checkpoint-100\n", latest());

    // The NIO form names the file first; a wrapped ENOSPC counts too.
    CheckpointWriter.Content wrapped =
        dir -> {
          throw new IOException(
              "writing optimizer state", new FileSystemException(dir + "/m.bin: No space left on device"));
        };
    assertTrue(assertThrows(CheckpointSaveException.class, () -> writer.save(200, wrapped)).diskFull());
  }

  @Test
  void failedFirstSaveSaysThereIsNoEarlierCheckpoint() {
    CheckpointWriter writer = new CheckpointWriter(out.resolve("run"), 0);
    CheckpointWriter.Content full =
        dir -> {
          throw new IOException("No space left on device");
        };
    CheckpointSaveException e = assertThrows(CheckpointSaveException.class, () -> writer.save(10, full));
    String noneBefore = "No earlier checkpoint exists in " + out.resolve("run");
    assertTrue(e.getMessage().contains(noneBefore), e.getMessage());
    assertEquals(Optional.empty(), e.previous());
  }

  @Test
  void contentMayNotWriteTheManifest() throws IOException {
    CheckpointWriter writer = new CheckpointWriter(out, 0);
    CheckpointSaveException e =
        assertThrows(
            CheckpointSaveException.class, () -> writer.save(5, files(Map.of("manifest.json", "{}"))));
    assertTrue(e.getMessage().contains("manifest.json is reserved"), e.getMessage());
    assertEquals(List.of(), entries(out));
  }

  @Test
  void savingTheSameStepAgainReplacesIt() throws IOException {
    CheckpointWriter writer = new CheckpointWriter(out, 0);
    writer.save(100, files(Map.of("a.txt", "first")));
    writer.save(100, files(Map.of("b.txt", "second")));
    Path dir = out.resolve("checkpoint-100");
    assertEquals(List.of("b.txt", "manifest.json"), entries(dir));
    assertEquals(List.of("checkpoint-100", "latest"), entries(out));
    assertTrue(CheckpointVerifier.verify(dir).ok());
  }

  @Test
  void failureAtTheCommitPointRollsBackTheRenamedDirectory() throws IOException {
    CheckpointWriter writer = new CheckpointWriter(out, 0);
    writer.save(100, files(Map.of("a.txt", "original")));
    // A directory named 'latest' makes the marker's final rename fail after checkpoint-N is in place.
    Files.delete(out.resolve(Checkpoints.LATEST));
    Files.createDirectories(out.resolve(Checkpoints.LATEST).resolve("blocker"));

    assertThrows(CheckpointSaveException.class, () -> writer.save(200, stepContent(200)));
    assertEquals(List.of("checkpoint-100", "latest"), entries(out));

    CheckpointWriter.Content replacement = files(Map.of("a.txt", "replacement"));
    assertThrows(CheckpointSaveException.class, () -> writer.save(100, replacement));
    assertEquals(List.of("checkpoint-100", "latest"), entries(out));
    Path restored = out.resolve("checkpoint-100");
    assertEquals("original", Files.readString(restored.resolve("a.txt")));
    assertTrue(CheckpointVerifier.verify(restored).ok());
  }

  @Test
  void saveTotalLimitDeletesTheOldestCompleteCheckpoints() throws IOException {
    Files.writeString(out.resolve("notes.txt"), "mine");
    Files.createDirectories(out.resolve("checkpoint-best"));
    Files.createDirectories(out.resolve("checkpoint-50"));
    Files.writeString(out.resolve("checkpoint-50/model.safetensors"), "no manifest: incomplete, left alone");
    CheckpointWriter writer = new CheckpointWriter(out, 2);

    assertEquals(List.of(), writer.save(100, stepContent(100)).pruned());
    assertEquals(List.of(), writer.save(200, stepContent(200)).pruned());
    CheckpointWriter.SavedCheckpoint third = writer.save(300, stepContent(300));
    assertEquals(List.of(out.resolve("checkpoint-100")), third.pruned());
    assertEquals(List.of(), third.warnings());
    assertEquals(
        List.of(
            "checkpoint-200", "checkpoint-300", "checkpoint-50", "checkpoint-best", "latest", "notes.txt"),
        entries(out));

    // After resuming from an older checkpoint the highest step is kept as well as the new one.
    CheckpointWriter.SavedCheckpoint resumed = writer.save(150, stepContent(150));
    assertEquals(List.of(out.resolve("checkpoint-200")), resumed.pruned());
    assertEquals(
        List.of(
            "checkpoint-150", "checkpoint-300", "checkpoint-50", "checkpoint-best", "latest", "notes.txt"),
        entries(out));
    assertEquals("checkpoint-150\n", latest());
  }

  @Test
  void limitOfOneKeepsOnlyTheNewest() throws IOException {
    CheckpointWriter writer = new CheckpointWriter(out, 1);
    writer.save(1, stepContent(1));
    writer.save(2, stepContent(2));
    writer.save(3, stepContent(3));
    assertEquals(List.of("checkpoint-3", "latest"), entries(out));
  }

  @Test
  void staleTemporariesAreRemovedOnRequest() throws IOException {
    CheckpointWriter writer = new CheckpointWriter(out, 0);
    writer.save(100, stepContent(100));
    Files.createDirectories(out.resolve(".tmp-checkpoint-200-5f3a/optimizer"));
    Files.writeString(out.resolve(".tmp-checkpoint-200-5f3a/optimizer/state.bin"), "partial");
    Files.writeString(out.resolve(".latest.9c1d.tmp"), "checkpoint-2");
    Files.writeString(out.resolve(".tmp-notes"), "a file, not a save temporary");

    List<Path> removed = writer.removeStaleTemporaries();
    assertEquals(2, removed.size());
    assertEquals(List.of(".tmp-notes", "checkpoint-100", "latest"), entries(out));
  }
}
