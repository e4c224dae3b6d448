package dev.tfdpo.report;

import com.google.protobuf.InvalidProtocolBufferException;
import java.io.BufferedInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.NavigableMap;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.tensorflow.proto.DataType;
import org.tensorflow.proto.Event;
import org.tensorflow.proto.Summary;
import org.tensorflow.proto.TensorProto;

/**
 * Reads scalar series back from TensorBoard event files, verifying every record's CRCs. Understands
 * {@code simple_value} scalars (this project, PyTorch's {@code SummaryWriter}, Hugging Face) and
 * scalar-plugin tensors (TensorFlow 2 {@code tf.summary.scalar}); other summaries (histograms, text,
 * images) are skipped.
 */
public final class TensorBoardReader {

  private static final int MAX_DEPTH = 4;

  private TensorBoardReader() {}

  /** Whether a file name is an event file's, by TensorBoard's own rule (it contains "tfevents"). */
  public static boolean isEventFile(Path file) {
    return file.getFileName() != null && file.getFileName().toString().contains("tfevents");
  }

  /**
   * The event files to read for {@code fileOrDir}: the file itself, or the event files in the directory
   * and its subdirectories. They must all sit in one directory, because TensorBoard shows each directory
   * as a separate run and mixing runs would mix curves.
   *
   * @throws ReportInputException when there is none, or they belong to several runs
   */
  public static List<Path> eventFiles(Path fileOrDir) throws IOException {
    if (Files.isRegularFile(fileOrDir)) {
      return List.of(fileOrDir);
    }
    if (!Files.isDirectory(fileOrDir)) {
      throw new ReportInputException(fileOrDir + ": no such file or directory");
    }
    List<Path> files;
    try (Stream<Path> walk = Files.walk(fileOrDir, MAX_DEPTH)) {
      files = walk.filter(Files::isRegularFile).filter(TensorBoardReader::isEventFile).sorted()
          .collect(Collectors.toList());
    }
    if (files.isEmpty()) {
      throw new ReportInputException(fileOrDir + ": no TensorBoard event file (events.out.tfevents.*) "
          + "in it or in its subdirectories up to depth " + MAX_DEPTH);
    }
    Set<Path> runDirs = files.stream().map(Path::getParent).collect(Collectors.toCollection(TreeSet::new));
    if (runDirs.size() > 1) {
      throw new ReportInputException(fileOrDir + ": event files of " + runDirs.size()
          + " TensorBoard runs " + runDirs + "; pass one of these directories");
    }
    return files;
  }

  /**
   * Scalars of every event file of {@code fileOrDir} (see {@link #eventFiles}), merged in file-name
   * order (the names start with the creation time), as tag → step → value. A later value for the same
   * tag and step replaces the earlier one, as when a resumed run re-logs steps.
   *
   * @throws IOException on a read error, a CRC mismatch, a truncated record or an unparsable event
   */
  public static Map<String, NavigableMap<Long, Double>> readScalars(Path fileOrDir) throws IOException {
    Map<String, NavigableMap<Long, Double>> scalars = new LinkedHashMap<>();
    for (Path file : eventFiles(fileOrDir)) {
      readFile(file, scalars);
    }
    return scalars;
  }

  private static void readFile(Path file, Map<String, NavigableMap<Long, Double>> scalars)
      throws IOException {
    try (InputStream in = new BufferedInputStream(Files.newInputStream(file))) {
      long offset = 0;
      byte[] payload;
      while ((payload = TfRecord.read(in, file.toString(), offset)) != null) {
        Event event = parseEvent(file, offset, payload);
        offset += TfRecord.framedLength(payload.length);
        if (!event.hasSummary()) {
          continue;
        }
        for (Summary.Value value : event.getSummary().getValueList()) {
          Double scalar = scalarOf(value);
          if (scalar != null) {
            scalars.computeIfAbsent(value.getTag(), tag -> new TreeMap<>()).put(event.getStep(), scalar);
          }
        }
      }
    }
  }

  private static Event parseEvent(Path file, long offset, byte[] payload) throws IOException {
    try {
      return Event.parseFrom(payload);
    } catch (InvalidProtocolBufferException notAnEvent) {
      throw new IOException(file + ": record at byte " + offset + " is not a TensorBoard Event ("
          + notAnEvent.getMessage() + ")", notAnEvent);
    }
  }

  /** The scalar a summary value carries, or null when it is not a scalar. */
  private static Double scalarOf(Summary.Value value) {
    if (value.hasSimpleValue()) {
      return (double) value.getSimpleValue();
    }
    if (!value.hasTensor()) {
      return null;
    }
    String plugin = value.getMetadata().getPluginData().getPluginName();
    if (!plugin.isEmpty() && !plugin.equals("scalars")) {
      return null;
    }
    return tensorScalar(value.getTensor());
  }

  private static Double tensorScalar(TensorProto tensor) {
    List<Long> dims = new ArrayList<>();
    tensor.getTensorShape().getDimList().forEach(d -> dims.add(d.getSize()));
    boolean singleElement = dims.stream().allMatch(size -> size == 1);
    if (!singleElement) {
      return null;
    }
    DataType type = tensor.getDtype();
    if (type == DataType.DT_FLOAT) {
      if (tensor.getFloatValCount() > 0) {
        return (double) tensor.getFloatVal(0);
      }
      if (tensor.getTensorContent().size() == Float.BYTES) {
        return (double) tensor.getTensorContent().asReadOnlyByteBuffer().order(ByteOrder.LITTLE_ENDIAN)
            .getFloat();
      }
    } else if (type == DataType.DT_DOUBLE) {
      if (tensor.getDoubleValCount() > 0) {
        return tensor.getDoubleVal(0);
      }
      if (tensor.getTensorContent().size() == Double.BYTES) {
        return tensor.getTensorContent().asReadOnlyByteBuffer().order(ByteOrder.LITTLE_ENDIAN)
            .getDouble();
      }
    }
    return null;
  }
}
