package dev.tfdpo.export;

import dev.tfdpo.graphs.Sessions;
import dev.tfdpo.graphs.serving.ServingGraph;
import dev.tfdpo.io.safetensors.SafeTensorsReader;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Collectors;
import org.tensorflow.SavedModelBundle;
import org.tensorflow.Signature;
import org.tensorflow.proto.MetaGraphDef;
import org.tensorflow.proto.SavedModel;
import org.tensorflow.proto.SignatureDef;
import org.tensorflow.proto.TensorInfo;
import org.tensorflow.proto.TensorShapeProto;

/**
 * Writes a TensorFlow SavedModel (tag {@code serve}) with the signatures of {@link ServingGraph}: the
 * policy's weights from the model state, the reference's from {@link ModelStateDir#referenceWeights()},
 * and beta from the run's config.
 */
public final class SavedModelExport {

  /** The tag the model is saved under (TensorFlow Serving's default). */
  public static final String TAG = SavedModelBundle.DEFAULT_TAG;

  /** Signature names. */
  public static final String LOG_PROBS = ServingGraph.LOG_PROBS;

  public static final String SCORE = ServingGraph.SCORE;

  public static final String REWARD = ServingGraph.REWARD;

  private SavedModelExport() {}

  /**
   * Loads a SavedModel written by {@link #export} with the trainer's session options ({@link
   * Sessions#config}), so it gives the trainer's numbers bitwise; with TensorFlow's defaults Grappler
   * reorders and fuses a few float operations and sums of log-probs differ in the last bit or two.
   */
  public static SavedModelBundle load(Path dir) {
    return SavedModelBundle.loader(dir.toString()).withTags(TAG).withConfigProto(Sessions.config(0)).load();
  }

  /** What was exported, for the log. */
  public record Exported(Path directory, Path reference, double beta) {}

  /** Exports {@code src} into {@code outDir} (which must exist and be empty). */
  public static Exported export(ModelStateDir src, Path outDir) throws IOException {
    double beta = src.beta();
    Path referencePath = src.referenceWeights();
    try (ServingGraph graph = ServingGraph.build(src.config(), (float) beta)) {
      if (src.adapter().isPresent()) {
        graph.policyLoader().assign(graph.session(), src.policyWeights()); // LoRA: base + adapter, merged
      } else {
        try (SafeTensorsReader policy = src.openPolicy()) {
          graph.policyLoader().load(graph.session(), policy);
        }
      }
      var mergedReference = src.mergedReference();
      if (mergedReference.isPresent()) {
        graph.referenceLoader().assign(graph.session(), mergedReference.get()); // base + starting adapter
      } else {
        try (SafeTensorsReader reference = SafeTensorsReader.open(referencePath)) {
          graph.referenceLoader().load(graph.session(), reference);
        }
      }
      SavedModelBundle.Exporter exporter =
          SavedModelBundle.exporter(outDir.toString()).withTags(TAG).withSession(graph.session());
      for (Signature signature : graph.signatures()) {
        exporter.withSignature(signature);
      }
      exporter.export();
    }
    return new Exported(outDir, referencePath, beta);
  }

  /**
   * The signatures of the SavedModel in {@code dir}, formatted as {@code saved_model_cli show --dir DIR
   * --all} prints them (signatures and tensors sorted by name).
   */
  public static String describe(Path dir) throws IOException {
    SavedModel model;
    try (InputStream in = Files.newInputStream(dir.resolve("saved_model.pb"))) {
      model = SavedModel.parseFrom(in);
    }
    StringBuilder out = new StringBuilder();
    for (MetaGraphDef meta : model.getMetaGraphsList()) {
      String tags = meta.getMetaInfoDef().getTagsList().stream().collect(Collectors.joining(", "));
      out.append("MetaGraphDef with tag-set: '").append(tags)
          .append("' contains the following SignatureDefs:\n");
      for (Map.Entry<String, SignatureDef> e : new TreeMap<>(meta.getSignatureDefMap()).entrySet()) {
        out.append("\nsignature_def['").append(e.getKey()).append("']:\n");
        SignatureDef def = e.getValue();
        out.append("  The given SavedModel SignatureDef contains the following input(s):\n");
        tensors(out, "inputs", def.getInputsMap());
        out.append("  The given SavedModel SignatureDef contains the following output(s):\n");
        tensors(out, "outputs", def.getOutputsMap());
        out.append("  Method name is: ").append(def.getMethodName()).append('\n');
      }
    }
    return out.toString();
  }

  private static void tensors(StringBuilder out, String kind, Map<String, TensorInfo> infos) {
    for (Map.Entry<String, TensorInfo> e : new TreeMap<>(infos).entrySet()) {
      TensorInfo info = e.getValue();
      out.append("    ").append(kind).append("['").append(e.getKey()).append("'] tensor_info:\n");
      out.append("        dtype: ").append(info.getDtype().name()).append('\n');
      out.append("        shape: ").append(shape(info.getTensorShape())).append('\n');
      out.append("        name: ").append(info.getName()).append('\n');
    }
  }

  private static String shape(TensorShapeProto shape) {
    if (shape.getUnknownRank()) {
      return "unknown_rank";
    }
    return shape.getDimList().stream()
        .map(d -> Long.toString(d.getSize()))
        .collect(Collectors.joining(", ", "(", ")"));
  }
}
