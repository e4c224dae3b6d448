package dev.tfdpo.export;

import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Parses a shard size limit written as transformers' {@code max_shard_size}: a byte count ({@code 1000000})
 * or a number with a unit, decimal ({@code KB}, {@code MB}, {@code GB}, {@code TB}: powers of 1000) or
 * binary ({@code KiB}, {@code MiB}, {@code GiB}, {@code TiB}: powers of 1024).
 *
 * <p>transformers reads a lowercase final {@code b} as bits ({@code "5Gb"} is 625 MB); that spelling is
 * refused here instead, because it is far more often a typo for bytes than a wish for bits.
 */
public final class ShardSize {

  /** transformers' default, {@code "5GB"}. */
  public static final String DEFAULT = "5GB";

  private static final Pattern SIZE = Pattern.compile("(\\d+)\\s*([KMGT]i?B|B)?", Pattern.CASE_INSENSITIVE);

  private ShardSize() {}

  /** The limit in bytes; a malformed or non-positive value is an {@link IllegalArgumentException}. */
  public static long parse(String text) {
    String trimmed = text == null ? "" : text.trim();
    Matcher m = SIZE.matcher(trimmed);
    if (!m.matches()) {
      throw new IllegalArgumentException(
          "--max-shard-size '" + text + "' is not a size: write a byte count or a whole number with a unit,"
              + " e.g. 5GB, 200MB, 2GiB");
    }
    String unit = m.group(2) == null ? "B" : m.group(2);
    if (unit.endsWith("b")) {
      throw new IllegalArgumentException(
          "--max-shard-size '" + text + "': a lowercase 'b' means bits in transformers; write bytes with"
              + " an uppercase B, e.g. " + m.group(1) + unit.substring(0, unit.length() - 1).toUpperCase(Locale.ROOT)
              + "B");
    }
    long multiplier = switch (unit.toUpperCase(Locale.ROOT)) {
      case "B" -> 1L;
      case "KB" -> 1_000L;
      case "MB" -> 1_000_000L;
      case "GB" -> 1_000_000_000L;
      case "TB" -> 1_000_000_000_000L;
      case "KIB" -> 1L << 10;
      case "MIB" -> 1L << 20;
      case "GIB" -> 1L << 30;
      case "TIB" -> 1L << 40;
      default -> throw new IllegalStateException("unreachable unit " + unit);
    };
    long count;
    try {
      count = Long.parseLong(m.group(1));
    } catch (NumberFormatException tooLong) {
      throw new IllegalArgumentException("--max-shard-size '" + text + "' is too large");
    }
    if (count <= 0) {
      throw new IllegalArgumentException("--max-shard-size must be positive, got '" + text + "'");
    }
    if (count > Long.MAX_VALUE / multiplier) {
      throw new IllegalArgumentException("--max-shard-size '" + text + "' is too large");
    }
    return count * multiplier;
  }
}
