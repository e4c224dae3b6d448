package dev.tfdpo.data;

import java.util.List;

/**
 * What {@link DatasetLoader#loadUnpaired(DataOptions)} returns for KTO data.
 *
 * @param examples the usable examples, in file order
 * @param summary counts, reasons and length statistics
 */
public record LoadedUnpaired(List<TokenizedCompletion> examples, DataSummary summary) {
  public LoadedUnpaired {
    examples = List.copyOf(examples);
  }
}
