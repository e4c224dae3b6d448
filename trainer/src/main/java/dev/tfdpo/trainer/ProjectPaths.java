package dev.tfdpo.trainer;

import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Resolves paths from configs. A relative path is taken from the current directory, as PaddleNLP and
 * TRL do; when nothing exists there, from the project root (so the shipped configs work from
 * anywhere).
 */
public final class ProjectPaths {

  private ProjectPaths() {}

  /** The project root: system property {@code tfdpo.root} (set by the scripts), else ".". */
  public static Path root() {
    return Path.of(System.getProperty("tfdpo.root", ".")).toAbsolutePath().normalize();
  }

  /** {@code path} resolved as described above. */
  public static Path resolve(String path) {
    Path p = Path.of(path);
    if (p.isAbsolute() || Files.exists(p)) {
      return p.toAbsolutePath().normalize();
    }
    Path fromRoot = root().resolve(p);
    return Files.exists(fromRoot) ? fromRoot.normalize() : p.toAbsolutePath().normalize();
  }
}
