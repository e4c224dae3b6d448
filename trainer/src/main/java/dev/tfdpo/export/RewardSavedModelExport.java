package dev.tfdpo.export;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.tfdpo.graphs.serving.RewardServingGraph;
import dev.tfdpo.io.hf.LlamaConfig;
import dev.tfdpo.io.hf.RewardModelExport;
import dev.tfdpo.io.safetensors.SafeTensorsReader;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.tensorflow.SavedModelBundle;
import org.tensorflow.Signature;

/**
 * Writes a reward model (a Hugging Face sequence-classification directory, as the reward trainer writes
 * it) as a TensorFlow SavedModel with the {@value RewardServingGraph#SCORE} signature of {@link
 * RewardServingGraph}. Load it with {@link SavedModelExport#load} for the trainer's numbers bitwise.
 */
public final class RewardSavedModelExport {

  private RewardSavedModelExport() {}

  /** Exports the reward model in {@code hfDir} into {@code outDir} (which must not hold a SavedModel yet). */
  public static void export(Path hfDir, Path outDir) throws IOException {
    if (!RewardModelExport.isSequenceClassifier(hfDir)) {
      throw new IllegalArgumentException(hfDir + " is not a reward model: its config.json does not list "
          + RewardModelExport.ARCHITECTURE + " in architectures (train with rlhf_type rm first)");
    }
    LlamaConfig config = LlamaConfig.read(hfDir);
    int pad = padTokenId(hfDir);
    try (RewardServingGraph graph = RewardServingGraph.build(config, pad);
        SafeTensorsReader weights = SafeTensorsReader.open(hfDir)) {
      graph.load(weights);
      SavedModelBundle.Exporter exporter =
          SavedModelBundle.exporter(outDir.toString()).withTags(SavedModelExport.TAG).withSession(graph.session());
      for (Signature signature : graph.signatures()) {
        exporter.withSignature(signature);
      }
      exporter.export();
    }
  }

  /** The config's {@code pad_token_id}: a reward model needs it to find each row's score token. */
  static int padTokenId(Path hfDir) throws IOException {
    JsonObject c = JsonParser.parseString(Files.readString(hfDir.resolve("config.json"), StandardCharsets.UTF_8))
        .getAsJsonObject();
    JsonElement pad = c.get("pad_token_id");
    if (pad == null || pad.isJsonNull()) {
      throw new IllegalArgumentException(hfDir.resolve("config.json") + ": pad_token_id is not set; a reward model "
          + "reads its score at the last token that is not pad_token_id, so set it (the tokenizer's pad or EOS id)");
    }
    return pad.getAsInt();
  }
}
