package dev.tfdpo.trainer.config;

import com.google.gson.JsonElement;
import java.util.Collection;
import java.util.List;
import java.util.TreeSet;
import java.util.function.DoublePredicate;
import java.util.function.Function;

/**
 * The values one config key accepts on its own, as its {@link ConfigKey} entry declares them. Checks
 * that compare keys (max_prompt_len below max_seq_len, the reference options) stay in
 * {@link TrainConfig} and {@link ReferenceOptions}.
 */
public abstract class Valid {

  /** Any value of the key's type. */
  public static final Valid ANY = new Valid() {
    @Override
    String problem(ConfigKey key, JsonElement value) {
      return null;
    }

    @Override
    public String describe() {
      return "";
    }
  };

  public static final Valid POSITIVE_INT = number(v -> v > 0, "a positive integer");

  /** In [0, 1). */
  public static final Valid UNIT_INTERVAL = number(v -> v >= 0 && v < 1, "in [0, 1)");

  /** A whole number of steps, or a fraction of the total steps below 1. */
  public static final Valid STEPS_OR_FRACTION =
      number(v -> v >= 0 && (v < 1 || v == Math.rint(v)), "a whole number of steps, or a fraction in [0, 1)");

  private Valid() {}

  /**
   * Why {@code value} (already of the key's type) is refused, as the end of a message that starts with
   * where it was set; null when it is accepted.
   */
  abstract String problem(ConfigKey key, JsonElement value);

  /** The accepted values in words, for the configuration reference; empty when any value goes. */
  public abstract String describe();

  /** A number (INT or NUMBER key) for which {@code ok} holds; {@code expected} says which in words. */
  public static Valid number(DoublePredicate ok, String expected) {
    return new Valid() {
      @Override
      String problem(ConfigKey key, JsonElement value) {
        double v = value.getAsDouble();
        Object shown = key.kind() == ConfigKey.Kind.INT ? (Object) value.getAsInt() : (Object) v;
        return ok.test(v) ? null : "'" + key.jsonName() + "' is " + shown + "; it must be " + expected;
      }

      @Override
      public String describe() {
        return expected;
      }
    };
  }

  /** A boolean that must be {@code only}; {@code expected} says why. */
  public static Valid flag(boolean only, String expected) {
    return new Valid() {
      @Override
      String problem(ConfigKey key, JsonElement value) {
        boolean v = value.getAsBoolean();
        return v == only ? null : "'" + key.jsonName() + "' is " + v + "; it must be " + expected;
      }

      @Override
      public String describe() {
        return String.valueOf(only);
      }
    };
  }

  /** One of {@code names}. */
  public static Valid oneOf(Collection<String> names) {
    List<String> sorted = List.copyOf(new TreeSet<>(names));
    return new Valid() {
      @Override
      String problem(ConfigKey key, JsonElement value) {
        String v = value.getAsString();
        return sorted.contains(v) ? null
            : "'" + key.jsonName() + "' is '" + v + "'; it must be one of " + sorted;
      }

      @Override
      public String describe() {
        return "one of " + String.join(", ", names);
      }
    };
  }

  /**
   * A name that {@code lookup} accepts; it throws IllegalArgumentException, whose message says what
   * the known names are, on any other; {@code names} lists them in words for the reference page.
   */
  public static Valid named(Function<String, ?> lookup, String names) {
    return new Valid() {
      @Override
      String problem(ConfigKey key, JsonElement value) {
        try {
          lookup.apply(value.getAsString());
          return null;
        } catch (IllegalArgumentException e) {
          return "'" + key.jsonName() + "': " + e.getMessage();
        }
      }

      @Override
      public String describe() {
        return names;
      }
    };
  }
}
