package dev.tfdpo.trainer;

import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tfdpo.trainer.config.ConfigKey;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/** The README documents every config key, so the table cannot fall behind the code. */
class ReadmeTest {

  @Test
  void everyConfigKeyIsInTheReadmeTable() throws Exception {
    String readme = Files.readString(Golden.ROOT.resolve("README.md"));
    for (ConfigKey k : ConfigKey.values()) {
      assertTrue(readme.contains("| `" + k.jsonName() + "`"), "README lacks key " + k.jsonName());
    }
  }
}
