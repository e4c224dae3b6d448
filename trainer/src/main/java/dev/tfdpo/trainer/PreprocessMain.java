package dev.tfdpo.trainer;

import dev.tfdpo.data.DataOptions;
import dev.tfdpo.data.DataSummary;
import dev.tfdpo.data.PreprocessedFile;
import dev.tfdpo.trainer.config.ConfigKey;
import dev.tfdpo.trainer.config.TrainConfig;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Command line ({@code scripts/preprocess.sh}): tokenizes a data file once into a {@link PreprocessedFile}.
 *
 * <p>{@code --input F --output F --model_name_or_path DIR [--key value ...]} with the keys of {@link #KEYS},
 * parsed and checked by the config table as a training run reads them, so the file matches a run with
 * the same values. Prints the data summary. The command line is {@link PreprocessTool}
 * (path fallback, output lock, error reporting).
 */
public final class PreprocessMain {

  /** The keys that decide the token ids: the model's tokenizer and the data layer's options. */
  public static final List<ConfigKey> KEYS = List.of(
      ConfigKey.MODEL_NAME_OR_PATH, ConfigKey.TOKENIZER_NAME_OR_PATH, ConfigKey.DATASET_FORMAT,
      ConfigKey.CHAT_TEMPLATE, ConfigKey.MAP_KEYS, ConfigKey.MAX_SEQ_LEN, ConfigKey.MAX_PROMPT_LEN,
      ConfigKey.TRUNCATION_MODE, ConfigKey.ON_BAD_ROW, ConfigKey.PACKING);

  private PreprocessMain() {}

  /** Writes the file; {@link PreprocessTool} is the command line around it. */
  public static DataSummary run(String[] args) throws IOException {
    String input = null;
    String output = null;
    List<String> overrides = new ArrayList<>();
    for (int i = 0; i < args.length; i++) {
      String a = args[i];
      if (!a.startsWith("--") || i + 1 >= args.length) {
        throw new IllegalArgumentException(
            "usage: preprocess.sh --input F --output F --model_name_or_path DIR [--key value ...]; "
                + "bad argument '" + a + "'");
      }
      String name = a.substring(2);
      String value = args[++i];
      switch (name) {
        case "input" -> input = value;
        case "output" -> output = value;
        default -> {
          checkKnown(name);
          overrides.add(a);
          overrides.add(value);
        }
      }
    }
    if (input == null || output == null) {
      throw new IllegalArgumentException("--input and --output are required");
    }
    checkOutput(ProjectPaths.resolve(input), Path.of(output));
    DataSummary summary = PreprocessedFile.write(options(input, overrides), Path.of(output));
    System.out.println(summary.format());
    System.out.println("wrote " + output);
    return summary;
  }

  /**
   * Refuses an {@code --output} that would destroy a file it does not own: the input itself, or any
   * existing file that is not a preprocessed file (a typo could otherwise replace a data set or a model
   * file). An earlier preprocessed file is replaced, atomically.
   */
  static void checkOutput(Path input, Path output) throws IOException {
    if (Files.exists(output) && Files.exists(input) && Files.isSameFile(input, output)) {
      throw new IllegalArgumentException("--output " + output + " is the --input file; preprocess writes a new"
          + " file: choose another --output");
    }
    if (Files.isDirectory(output)) {
      throw new IllegalArgumentException("--output " + output + " is a directory; give a file name, e.g. "
          + output.resolve("train.tfdpo"));
    }
    if (Files.exists(output) && !PreprocessedFile.isPreprocessed(output)) {
      throw new IllegalArgumentException("--output " + output + " exists and is not a preprocessed file; preprocess"
          + " only replaces its own files: choose another --output or remove that file");
    }
  }

  /** The data options of a run with these overrides; token-id data needs no model directory. */
  private static DataOptions options(String input, List<String> overrides) throws IOException {
    List<String> all = new ArrayList<>(overrides);
    all.addAll(List.of("--" + ConfigKey.TRAIN_DATASET_PATH.jsonName(), input));
    if (!given(ConfigKey.MODEL_NAME_OR_PATH, overrides)) {
      all.addAll(List.of("--" + ConfigKey.MODEL_NAME_OR_PATH.jsonName(), ""));
    }
    TrainConfig config = TrainConfig.load(null, all);
    String model = config.model().modelNameOrPath();
    Path modelDir = model.isEmpty() ? null : ProjectPaths.resolve(model);
    return TrainingData.options(config, ProjectPaths.resolve(input), modelDir);
  }

  private static void checkKnown(String name) {
    if (ConfigKey.find(name).filter(KEYS::contains).isEmpty()) {
      throw new IllegalArgumentException("unknown data option '" + name + "'; known: "
          + String.join(", ", KEYS.stream().map(ConfigKey::jsonName).toList()));
    }
  }

  private static boolean given(ConfigKey key, List<String> overrides) {
    return overrides.stream().filter(o -> o.startsWith("--"))
        .anyMatch(o -> ConfigKey.find(o.substring(2)).filter(key::equals).isPresent());
  }
}
