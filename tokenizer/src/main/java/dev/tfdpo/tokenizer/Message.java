package dev.tfdpo.tokenizer;

import java.util.Map;

/**
 * One chat message as chat templates see it.
 *
 * @param role {@code system}, {@code user} or {@code assistant}
 * @param content the text
 */
public record Message(String role, String content) {

  /** The three roles every built-in template and data format understands. */
  public static final java.util.Set<String> ROLES = java.util.Set.of("system", "user", "assistant");

  /** The {@code {"role": ..., "content": ...}} map templates index into. */
  public Map<String, Object> asMap() {
    return Map.of("role", role, "content", content);
  }
}
