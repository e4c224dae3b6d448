package dev.tfdpo.trainer.config;
import java.util.Map;

/** Data section. */
public record DataArgs(
    String trainDatasetPath,
    String datasetFormat,
    String chatTemplate,
    Map<String, String> mapKeys,
    int maxSeqLen,
    int maxPromptLen,
    String truncationMode,
    String onBadRow,
    boolean packing,
    boolean greedyZeroPadding,
    String trainSamplingStrategy,
    String devDatasetPath) {}
