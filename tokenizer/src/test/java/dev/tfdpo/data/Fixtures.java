package dev.tfdpo.data;

import java.nio.file.Files;
import java.nio.file.Path;

/** Locates {@code test/fixtures} in the repository. */
public final class Fixtures {

  private Fixtures() {}

  /** The repository's {@code test/fixtures} folder. */
  public static Path dir() {
    String root = System.getProperty("tfdpo.root");
    if (root != null && Files.isDirectory(Path.of(root, "test", "fixtures"))) {
      return Path.of(root, "test", "fixtures");
    }
    // Running outside Maven (an IDE): walk up from the working directory.
    for (Path p = Path.of("").toAbsolutePath(); p != null; p = p.getParent()) {
      if (Files.isDirectory(p.resolve("test/fixtures"))) {
        return p.resolve("test/fixtures");
      }
    }
    throw new IllegalStateException("test/fixtures not found; set -Dtfdpo.root to the repository root");
  }

  /** A path under {@code test/fixtures}. */
  public static Path get(String relative) {
    return dir().resolve(relative);
  }
}
