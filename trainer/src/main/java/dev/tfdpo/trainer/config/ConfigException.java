package dev.tfdpo.trainer.config;

/** A configuration the user must fix; the message says what, where and what to do. */
public final class ConfigException extends RuntimeException {

  public ConfigException(String message) {
    super(message);
  }
}
