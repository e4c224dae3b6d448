package dev.tfdpo.report;

import java.io.IOException;
import java.net.URISyntaxException;
import java.net.URL;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/** Test helpers: the small fixture files under {@code src/test/resources/report/}. */
final class Fixtures {

  private Fixtures() {}

  static Path resource(String name) {
    URL url = Fixtures.class.getResource("/report/" + name);
    if (url == null) {
      throw new IllegalStateException("missing test resource report/" + name);
    }
    try {
      return Path.of(url.toURI());
    } catch (URISyntaxException e) {
      throw new IllegalStateException(e);
    }
  }

  static Path write(Path dir, String name, String content) throws IOException {
    Path file = dir.resolve(name);
    Files.createDirectories(file.getParent());
    Files.writeString(file, content, StandardCharsets.UTF_8);
    return file;
  }
}
