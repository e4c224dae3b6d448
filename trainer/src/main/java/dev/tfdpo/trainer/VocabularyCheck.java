package dev.tfdpo.trainer;

import dev.tfdpo.data.LoadedDataset;
import dev.tfdpo.data.PairSource;
import dev.tfdpo.data.TokenizedPair;
import dev.tfdpo.io.hf.LlamaConfig;
import dev.tfdpo.tokenizer.Tokenizer;
import dev.tfdpo.tokenizer.Tokenizers;
import dev.tfdpo.trainer.config.ConfigException;
import dev.tfdpo.trainer.config.ConfigKey;
import dev.tfdpo.trainer.config.TrainConfig;
import java.io.IOException;
import java.nio.file.Path;

/**
 * Token ids must index the model's embedding: a tokenizer with more ids than {@code vocab_size}, or a
 * pre-tokenized row with an id at or past it, is refused at load, naming the tokenizer or the row,
 * instead of failing (or reading garbage) inside the first step's gather.
 */
final class VocabularyCheck {

  private VocabularyCheck() {}

  /** The tokenizer that tokenized {@code data} (if one did) fits the model's vocabulary. */
  static void tokenizer(LoadedDataset data, Path modelDir, Path tokenizerOverride, LlamaConfig model)
      throws IOException {
    if (data.summary().tokenizer().equals("none")) {
      return; // token-id data: checked row by row
    }
    Tokenizers.Located located = Tokenizers.locate(modelDir, tokenizerOverride);
    int size;
    try (Tokenizer t = Tokenizers.load(located)) {
      size = t.vocabSize();
    }
    if (size > model.vocabSize()) {
      throw new ConfigException("the tokenizer " + located.tokenizerFile() + " has " + size + " ids but the model's "
          + modelDir.resolve("config.json") + " has vocab_size " + model.vocabSize() + ": ids from " + model.vocabSize()
          + " up have no embedding row. Use the model's own tokenizer (tokenizer_name_or_path) or a model whose"
          + " vocabulary covers it");
    }
  }

  /** Every id of every pair is below {@code vocab_size}; the first one that is not names its row. */
  static void ids(PairSource pairs, ConfigKey key, Path file, LlamaConfig model) {
    int limit = model.vocabSize();
    for (int p = 0; p < pairs.size(); p++) {
      TokenizedPair pair = pairs.get(p);
      String[] parts = {"prompt", "chosen", "rejected"};
      int[][] ids = {pair.promptIds(), pair.chosenIds(), pair.rejectedIds()};
      for (int k = 0; k < ids.length; k++) {
        for (int id : ids[k]) {
          if (id < 0 || id >= limit) {
            throw new ConfigException(key.jsonName() + " " + file + ": row " + (pair.index() + 1) + " has token id "
                + id + " in its " + parts[k] + " ids, outside the model's vocabulary [0, " + limit + ") (vocab_size in"
                + " config.json); the data was tokenized for another model");
          }
        }
      }
    }
  }

  /** The tokenizer of a run and the ids of its training and dev pairs fit the model's vocabulary. */
  static void check(TrainConfig config, Path modelDir, LlamaConfig model, LoadedDataset data, LoadedDataset dev)
      throws IOException {
    String tokenizer = config.model().tokenizerNameOrPath();
    tokenizer(data, modelDir, tokenizer.isEmpty() ? null : ProjectPaths.resolve(tokenizer), model);
    ids(data.pairs(), ConfigKey.TRAIN_DATASET_PATH, ProjectPaths.resolve(config.data().trainDatasetPath()), model);
    if (dev != null) {
      ids(dev.pairs(), ConfigKey.DEV_DATASET_PATH, ProjectPaths.resolve(config.data().devDatasetPath()), model);
    }
  }
}
