package dev.tfdpo.trainer.config;

/** Model section. */
public record ModelArgs(
    String modelNameOrPath,
    String tokenizerNameOrPath,
    String refModelNameOrPath,
    boolean lora,
    String sftType,
    int loraRank,
    double loraAlpha,
    boolean rslora,
    double loraPlusScale,
    boolean rsloraPlus,
    String loraPath,
    java.util.List<String> loraTargetModules,
    String weightQuantizeAlgo) {}
