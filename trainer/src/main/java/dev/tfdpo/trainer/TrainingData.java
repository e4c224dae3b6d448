package dev.tfdpo.trainer;

import dev.tfdpo.data.DataOptions;
import dev.tfdpo.data.DatasetLoader;
import dev.tfdpo.data.LoadedDataset;
import dev.tfdpo.data.OnBadRow;
import dev.tfdpo.data.TruncationMode;
import dev.tfdpo.trainer.config.ConfigKey;
import dev.tfdpo.trainer.config.DataArgs;
import dev.tfdpo.trainer.config.TrainConfig;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** Loads the training pairs named by the config through the data layer, length limits applied. */
public final class TrainingData {

  private TrainingData() {}

  /** Loads the training set; the data summary is written to {@code summaryFile}. */
  public static LoadedDataset load(TrainConfig config, Path modelDir, Path summaryFile) throws IOException {
    return load(config, ConfigKey.TRAIN_DATASET_PATH, config.data().trainDatasetPath(), modelDir, summaryFile);
  }

  /**
   * Loads the data set named by {@code key} ({@code train_dataset_path} or {@code dev_dataset_path})
   * with the run's tokenizer, format and length options; the data summary is written to
   * {@code summaryFile} unless it is null.
   */
  static LoadedDataset load(TrainConfig config, ConfigKey key, String path, Path modelDir, Path summaryFile)
      throws IOException {
    Path file = ProjectPaths.resolve(path);
    if (!Files.isRegularFile(file)) {
      throw new dev.tfdpo.trainer.config.ConfigException(key.jsonName() + " " + file + " does not exist or is not a file");
    }
    LoadedDataset loaded = DatasetLoader.load(options(config, file, modelDir));
    if (summaryFile != null) {
      Files.writeString(summaryFile, loaded.summary().toJson() + "\n");
    }
    if (loaded.pairs().size() == 0) {
      throw new IOException(file + ": no usable pair (" + loaded.summary().format() + ")");
    }
    return loaded;
  }

  /**
   * The data layer's options for {@code file} from the config's model and data keys: the same for
   * training, evaluation and {@code scripts/preprocess.sh}, so a preprocessed file matches the run.
   *
   * @param modelDir the tokenizer's model directory; null for token-id data without one
   */
  static DataOptions options(TrainConfig config, Path file, Path modelDir) {
    DataArgs d = config.data();
    String tokenizer = config.model().tokenizerNameOrPath();
    return new DataOptions(
        file,
        modelDir,
        tokenizer.isEmpty() ? null : ProjectPaths.resolve(tokenizer),
        d.datasetFormat(),
        d.chatTemplate().isEmpty() ? null : d.chatTemplate(),
        d.mapKeys(),
        d.maxSeqLen(),
        d.maxPromptLen(),
        TruncationMode.parse(d.truncationMode()),
        OnBadRow.parse(d.onBadRow()),
        d.packing());
  }
}
