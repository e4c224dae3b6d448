package dev.tfdpo.trainer.config;

import com.google.gson.JsonElement;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;

/**
 * The configuration reference (docs/configuration.md) written from {@link ConfigKey}: the page's key
 * table is generated, never edited by hand, and a test compares the page with {@link #markdown()}.
 */
public final class ConfigTable {

  /** The lines around the generated table in the page. */
  public static final String BEGIN = "<!-- key table: generated from ConfigKey by ConfigTable; do not edit -->";

  public static final String END = "<!-- end of key table -->";

  private ConfigTable() {}

  /** The key table, one row per key in declaration order, with a trailing newline. */
  public static String markdown() {
    StringBuilder out = new StringBuilder();
    out.append("| key | section | default | valid values | meaning |\n");
    out.append("|---|---|---|---|---|\n");
    for (ConfigKey k : ConfigKey.values()) {
      out.append("| `").append(k.jsonName()).append('`');
      if (!k.aliases().isEmpty()) {
        out.append(" (alias ").append(String.join(", ", k.aliases().stream().map(a -> "`" + a + "`").toList()))
            .append(')');
      }
      out.append(" | ").append(k.section().name().toLowerCase(Locale.ROOT))
          .append(" | ").append(defaultCell(k))
          .append(" | ").append(k.valid().describe().replace("|", "\\|"))
          .append(" | ").append(k.doc().replace("|", "\\|"))
          .append(" |\n");
    }
    return out.toString();
  }

  /** The generated table as it stands between {@link #BEGIN} and {@link #END} in {@code page}. */
  public static String tableIn(String page) {
    int begin = page.indexOf(BEGIN);
    int end = page.indexOf(END);
    if (begin < 0 || end < begin) {
      throw new IllegalArgumentException("the page has no generated key table (" + BEGIN + " ... " + END + ")");
    }
    return page.substring(begin + BEGIN.length(), end).strip() + "\n";
  }

  /** Rewrites the generated table of the page {@code args[0]} (default docs/configuration.md). */
  public static void main(String[] args) throws IOException {
    Path page = Path.of(args.length > 0 ? args[0] : "docs/configuration.md");
    String text = Files.readString(page, StandardCharsets.UTF_8);
    String old = tableIn(text);
    int at = text.indexOf(old, text.indexOf(BEGIN));
    Files.writeString(page, text.substring(0, at) + markdown() + text.substring(at + old.length()),
        StandardCharsets.UTF_8);
  }

  private static String defaultCell(ConfigKey k) {
    if (k.required()) {
      return "required";
    }
    JsonElement d = k.defaultJson();
    String text = d.isJsonPrimitive() ? d.getAsString() : d.toString();
    if (d.isJsonPrimitive() && d.getAsJsonPrimitive().isNumber()) {
      text = String.valueOf(d.getAsDouble()).replace("E", "e").replace(".0e", "e");
      if (k.kind() == ConfigKey.Kind.INT) {
        text = String.valueOf(d.getAsInt());
      }
    }
    return text.isEmpty() ? "(empty)" : "`" + text + "`";
  }
}
