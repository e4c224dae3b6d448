package dev.tfdpo.trainer;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import dev.tfdpo.trainer.config.ConfigException;
import dev.tfdpo.trainer.config.ConfigKey;
import dev.tfdpo.trainer.config.TrainConfig;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Resume refuses what it cannot honour: the checkpoint's {@code resolved_config.json} is compared with
 * the new config, and any difference in a key that changes the data order or the math ({@link
 * ConfigKey#mayChangeOnResume()} false) is refused with the list of differences. A key the checkpoint's
 * file lacks (written by an older version) is not compared. A checkpoint whose files come from two runs
 * (its metrics, or the output directory's config, carry another {@link RunFingerprint}) is refused too.
 */
final class ResumeGuard {

  private ResumeGuard() {}

  /** Throws {@link ConfigException} listing every key the new run would change against the checkpoint. */
  static void check(Path checkpoint, Path outputDir, TrainConfig config) throws IOException {
    Path file = checkpoint.resolve(DpoTrainer.CONFIG_FILE);
    JsonObject saved = RunFingerprint.readObject(file, "resume from another checkpoint");
    checkOneRun(checkpoint, outputDir, saved);
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

  /** The checkpoint's metrics and, for a checkpoint of output_dir, the directory's config share its run. */
  private static void checkOneRun(Path checkpoint, Path outputDir, JsonObject saved) throws IOException {
    JsonElement id = saved.get(RunFingerprint.KEY);
    if (id == null || !id.isJsonPrimitive()) {
      return; // written before fingerprints
    }
    String run = id.getAsString();
    RunFingerprint.checkMetrics(checkpoint.resolve(DpoTrainer.METRICS_FILE), run, "resume from another checkpoint");
    Path top = outputDir.resolve(DpoTrainer.CONFIG_FILE);
    String topRun = checkpoint.startsWith(outputDir) ? RunFingerprint.of(top).orElse(run) : run;
    if (!topRun.equals(run)) {
      throw new ConfigException(checkpoint + " belongs to run " + run + " but " + top + " to run " + topRun
          + ": output_dir mixes two runs. Resume that checkpoint from a copy of it in a new output_dir, or start"
          + " over with overwrite_output_dir: true");
    }
  }
}
