package dev.tfdpo.io.safetensors;

import java.nio.file.Files;
import java.nio.file.Path;

/** Finds the repository root, which holds {@code test/fixtures}. */
final class TestRoot {

  private TestRoot() {}

  /** The folder in {@code -Dtfdpo.root}, else the nearest ancestor of the working directory with fixtures. */
  static Path root() {
    String property = System.getProperty("tfdpo.root");
    if (property != null && !property.isBlank() && Files.isDirectory(Path.of(property, "test", "fixtures"))) {
      return Path.of(property);
    }
    for (Path dir = Path.of("").toAbsolutePath(); dir != null; dir = dir.getParent()) {
      if (Files.isDirectory(dir.resolve("test").resolve("fixtures"))) {
        return dir;
      }
    }
    throw new IllegalStateException(
        "cannot find test/fixtures: set -Dtfdpo.root to the repository root or run inside the repository");
  }

  /** A path under {@code test/fixtures}. */
  static Path fixture(String relative) {
    return root().resolve("test").resolve("fixtures").resolve(relative);
  }
}
