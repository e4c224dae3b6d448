package dev.tfdpo.data;

/**
 * What {@link DatasetLoader#load(DataOptions)} returns.
 *
 * @param pairs the usable pairs, length limits applied, in file order
 * @param summary counts, reasons and length statistics
 */
public record LoadedDataset(PairSource pairs, DataSummary summary) {}
