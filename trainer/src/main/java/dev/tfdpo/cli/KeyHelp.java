package dev.tfdpo.cli;

import dev.tfdpo.trainer.config.ConfigKey;
import java.util.Collection;
import java.util.List;

/** The {@code --help} list of config keys, generated from {@link ConfigKey} so it never drifts. */
public final class KeyHelp {

  private KeyHelp() {}

  /** Every key, one line each: name, default, meaning. */
  public static String all() {
    return of(List.of(ConfigKey.values()));
  }

  /** The given keys, one line each. */
  public static String of(Collection<ConfigKey> keys) {
    StringBuilder sb = new StringBuilder();
    for (ConfigKey k : keys) {
      String dflt = k.required() ? "required" : "default " + k.defaultJson();
      sb.append("  --").append(k.jsonName()).append(" (").append(dflt).append(")\n      ")
          .append(k.doc()).append('\n');
    }
    return sb.toString();
  }
}
