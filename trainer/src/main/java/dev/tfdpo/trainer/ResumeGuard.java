package dev.tfdpo.trainer;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParseException;
import com.google.gson.JsonParser;
import dev.tfdpo.trainer.config.ConfigException;
import dev.tfdpo.trainer.config.ConfigKey;
import dev.tfdpo.trainer.config.TrainConfig;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Resume refuses what it cannot honour: the checkpoint's {@code resolved_config.json} is compared with
 * the new config, and any difference in a key that changes the data order or the math ({@link
 * ConfigKey#mayChangeOnResume()} false) is refused with the list of differences. A key the checkpoint's
 * file lacks (written by an older version) is not compared.
 */
final class ResumeGuard {

  private ResumeGuard() {}

  /** Throws {@link ConfigException} listing every key the new run would change against the checkpoint. */
  static void check(Path checkpoint, TrainConfig config) throws IOException {
    Path file = checkpoint.resolve(DpoTrainer.CONFIG_FILE);
    JsonObject saved;
    try {
      saved = JsonParser.parseString(Files.readString(file, StandardCharsets.UTF_8)).getAsJsonObject();
    } catch (JsonParseException | IllegalStateException e) {
      throw new ConfigException(file + " cannot be read (" + e.getMessage() + "); resume from another checkpoint");
    }
    JsonObject now = config.toJson();
    List<String> differences = new ArrayList<>();
    for (ConfigKey key : ConfigKey.values()) {
      JsonElement before = saved.get(key.jsonName());
      JsonElement after = now.get(key.jsonName());
      if (key.mayChangeOnResume() || before == null || after == null || before.equals(after)) {
        continue;
      }
      differences.add("  " + key.jsonName() + ": checkpoint " + before + ", this run " + after);
    }
    if (!differences.isEmpty()) {
      List<String> free = Arrays.stream(ConfigKey.values()).filter(ConfigKey::mayChangeOnResume)
          .map(ConfigKey::jsonName).toList();
      throw new ConfigException("resume_from_checkpoint: " + checkpoint + " was trained with other values of keys"
          + " that change the data order or the math, so its position and optimizer state cannot be continued:\n"
          + String.join("\n", differences) + "\nResume with the checkpoint's values (its " + DpoTrainer.CONFIG_FILE
          + " has them); only " + String.join(", ", free) + " may change on resume. To train with the new values"
          + " instead, start a new run (another output_dir, or overwrite_output_dir: true without"
          + " resume_from_checkpoint).");
    }
  }
}
