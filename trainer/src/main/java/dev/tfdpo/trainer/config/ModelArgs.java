package dev.tfdpo.trainer.config;

/** Model section. */
public record ModelArgs(
    String modelNameOrPath,
    String tokenizerNameOrPath,
    String refModelNameOrPath) {}
