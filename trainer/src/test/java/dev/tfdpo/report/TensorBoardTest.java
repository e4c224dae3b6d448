package dev.tfdpo.report;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.NavigableMap;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.tensorflow.proto.Event;

class TensorBoardTest {

  @TempDir Path dir;

  @Test
  void emptyRecordMatchesTensorBoardsOwnBytes() throws IOException {
    // TensorBoard's record_writer_test.py notes the framed empty record as
    // b'\x00\x00\x00\x00\x00\x00\x00\x00)\x03\x98\x07\xd8\xea\x82\xa2'.
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    TfRecord.write(out, new byte[0]);
    byte[] expected = {0, 0, 0, 0, 0, 0, 0, 0, 0x29, 0x03, (byte) 0x98, 0x07,
        (byte) 0xd8, (byte) 0xea, (byte) 0x82, (byte) 0xa2};
    assertArrayEquals(expected, out.toByteArray());
  }

  @Test
  void writtenScalarsReadBack() throws IOException {
    Path runs = dir.resolve("out/runs");
    Path file;
    try (TensorBoardWriter writer = new TensorBoardWriter(runs)) {
      file = writer.file();
      writer.scalar("train/loss", 1, 0.6931471824645996);
      Map<String, Double> step2 = new LinkedHashMap<>();
      step2.put("step", 2.0);
      step2.put("loss", 0.5);
      step2.put("rewards/chosen", -0.25);
      writer.metrics(2, step2);
      writer.metrics(2, Map.of("step", 2L, "eval_loss", 0.625, "note", "text is skipped"));
      writer.flush();
    }
    assertTrue(file.getFileName().toString().matches("events\\.out\\.tfevents\\.\\d{10}\\..+"),
        file.getFileName().toString());
    assertEquals(runs, file.getParent());

    Map<String, NavigableMap<Long, Double>> scalars = TensorBoardReader.readScalars(runs);
    // Values are stored as float32: compare with the float-rounded input.
    assertEquals(Map.of(1L, (double) 0.6931471824645996f, 2L, 0.5), scalars.get("train/loss"));
    assertEquals(Map.of(2L, -0.25), scalars.get("train/rewards/chosen"));
    assertEquals(Map.of(2L, 0.625), scalars.get("eval/loss"));
    assertEquals(3, scalars.size(), "the step key is not logged as a scalar: " + scalars.keySet());
  }

  @Test
  void firstEventCarriesTheFileVersion() throws IOException {
    Path file;
    try (TensorBoardWriter writer = new TensorBoardWriter(dir)) {
      file = writer.file();
    }
    // Every TensorFlow event file starts with these 12 bytes: a 24-byte first event (wall_time and
    // file_version "brain.Event:2") and its length's masked CRC.
    byte[] start = Arrays.copyOf(Files.readAllBytes(file), 12);
    assertArrayEquals(new byte[] {0x18, 0, 0, 0, 0, 0, 0, 0, (byte) 0xa3, 0x7f, 0x4b, 0x22}, start);
    try (InputStream in = Files.newInputStream(file)) {
      Event first = Event.parseFrom(TfRecord.read(in, file.toString(), 0));
      assertEquals("brain.Event:2", first.getFileVersion());
      assertTrue(first.getWallTime() > 1.6e9, "wall time in seconds: " + first.getWallTime());
    }
  }

  @Test
  void twoWritersInOneSecondGetTwoFiles() throws IOException {
    try (TensorBoardWriter first = new TensorBoardWriter(dir);
        TensorBoardWriter second = new TensorBoardWriter(dir)) {
      assertTrue(!first.file().equals(second.file()));
    }
  }

  @Test
  void readsAnIndependentlyWrittenFile() throws IOException {
    // Written by make_python_events.py (hand-encoded protobuf, its own CRC32C); covers simple_value,
    // a TF2 scalar-plugin float tensor, a double tensor_content scalar, and a text value to skip.
    Path file = Fixtures.resource("python-events/events.out.tfevents.1700000000.fixture");
    Map<String, NavigableMap<Long, Double>> scalars = TensorBoardReader.readScalars(file);
    assertEquals(Map.of(1L, 0.75, 2L, 0.5), scalars.get("train/loss"));
    assertEquals(Map.of(2L, 0.625), scalars.get("eval/loss"));
    assertEquals(Map.of(3L, 12.5), scalars.get("train/grad_norm"));
    assertEquals(3, scalars.size(), scalars.keySet().toString());
  }

  @Test
  void detectsACorruptedPayload() throws IOException {
    Path file = writeTwoSteps();
    byte[] bytes = Files.readAllBytes(file);
    int lastPayloadByte = bytes.length - 5;
    bytes[lastPayloadByte] ^= 0x01;
    Files.write(file, bytes);
    IOException error = assertThrows(IOException.class, () -> TensorBoardReader.readScalars(file));
    assertTrue(error.getMessage().contains("data's CRC does not match"), error.getMessage());
    assertTrue(error.getMessage().contains(file.toString()), error.getMessage());
  }

  @Test
  void detectsACorruptedLength() throws IOException {
    Path file = writeTwoSteps();
    byte[] bytes = Files.readAllBytes(file);
    bytes[0] ^= 0x01;
    Files.write(file, bytes);
    IOException error = assertThrows(IOException.class, () -> TensorBoardReader.readScalars(file));
    assertTrue(error.getMessage().contains("length's CRC does not match"), error.getMessage());
    assertTrue(error.getMessage().contains("at byte 0"), error.getMessage());
  }

  @Test
  void detectsATruncatedFile() throws IOException {
    Path file = writeTwoSteps();
    byte[] bytes = Files.readAllBytes(file);
    Files.write(file, Arrays.copyOf(bytes, bytes.length - 3));
    IOException error = assertThrows(IOException.class, () -> TensorBoardReader.readScalars(file));
    assertTrue(error.getMessage().contains("truncated record"), error.getMessage());
  }

  @Test
  void rejectsADirectoryWithSeveralRuns() throws IOException {
    new TensorBoardWriter(dir.resolve("runs/a")).close();
    new TensorBoardWriter(dir.resolve("runs/b")).close();
    ReportInputException error = assertThrows(ReportInputException.class,
        () -> TensorBoardReader.readScalars(dir.resolve("runs")));
    assertTrue(error.getMessage().contains("2 TensorBoard runs"), error.getMessage());
  }

  @Test
  void eventFilesAreACurveFormat() throws IOException {
    Path file = writeTwoSteps();
    RunCurves curves = CurveFormats.read(file, List.of());
    assertEquals("tensorboard", curves.format());
    assertEquals(Map.of(1L, 0.75, 2L, 0.5), curves.series("loss"));
    assertEquals(Map.of(2L, 0.625), curves.series("eval_loss"));
  }

  @Test
  void closedWriterRejectsScalars() throws IOException {
    TensorBoardWriter writer = new TensorBoardWriter(dir);
    writer.close();
    writer.close();
    assertThrows(IllegalStateException.class, () -> writer.scalar("train/loss", 1, 1.0));
  }

  private Path writeTwoSteps() throws IOException {
    try (TensorBoardWriter writer = new TensorBoardWriter(dir)) {
      writer.metrics(1, Map.of("loss", 0.75));
      writer.metrics(2, Map.of("loss", 0.5, "eval_loss", 0.625));
      return writer.file();
    }
  }
}
