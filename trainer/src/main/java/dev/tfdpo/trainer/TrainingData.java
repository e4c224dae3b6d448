package dev.tfdpo.trainer;

import dev.tfdpo.data.ListPairSource;
import dev.tfdpo.data.PairSource;
import dev.tfdpo.data.TokenIdsJsonl;
import dev.tfdpo.data.TokenizedPair;
import dev.tfdpo.data.Truncation;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/** Loads the training pairs named by the config and applies the length limit. */
final class TrainingData {

  /** The pairs and how many rows were dropped for length. */
  record Loaded(PairSource pairs, int rowsRead, int dropped) {}

  private TrainingData() {}

  static Loaded load(Path file, int maxSeqLen) throws IOException {
    if (!Files.isRegularFile(file)) {
      throw new IOException("train_dataset_path " + file + " does not exist or is not a file");
    }
    if (!TokenIdsJsonl.looksLikeTokenIds(file)) {
      throw new IOException(
          file + ": expected pre-tokenized JSONL rows with " + TokenIdsJsonl.FIELDS
              + " (text data sets need the tokenizer path, see the README)");
    }
    List<TokenizedPair> rows = TokenIdsJsonl.read(file);
    List<TokenizedPair> kept = new ArrayList<>();
    for (TokenizedPair row : rows) {
      Optional<TokenizedPair> fitted = Truncation.keepStart(row, maxSeqLen);
      fitted.ifPresent(kept::add);
    }
    if (kept.isEmpty()) {
      throw new IOException(file + ": no usable pair (" + rows.size() + " rows read; every prompt reaches max_seq_len "
          + maxSeqLen + ")");
    }
    return new Loaded(new ListPairSource(kept), rows.size(), rows.size() - kept.size());
  }
}
