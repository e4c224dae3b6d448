package dev.tfdpo.trainer;

import dev.tfdpo.cli.Cli;
import dev.tfdpo.cli.KeyHelp;
import dev.tfdpo.io.DurableFiles;
import dev.tfdpo.io.OutputDirLock;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/**
 * {@code scripts/preprocess.sh}: {@link PreprocessMain} behind the {@link Cli} wrapper, with the
 * trainer's path rules (a relative input, model or tokenizer path that does not exist here is taken from
 * the project root) and the lock of the output file's directory.
 */
public final class PreprocessTool {

  private static final Set<String> INPUT_PATHS = Set.of("input", "model_name_or_path", "tokenizer_name_or_path");

  static final String USAGE = "usage: scripts/preprocess.sh --input DATA --output FILE --model_name_or_path MODEL_DIR"
      + " [--key value | --key=value ...]\n"
      + "  tokenizes DATA once into FILE, which train_dataset_path then reads memory-mapped\n"
      + "  --debug  print the stack trace of an error\n"
      + "keys:\n";

  private PreprocessTool() {}

  public static void main(String[] args) {
    Cli.main("preprocess", args, PreprocessTool::run);
  }

  static int run(String[] args) throws Exception {
    if (List.of(args).contains("--help") || List.of(args).contains("-h")) {
      System.out.print(USAGE + KeyHelp.of(PreprocessMain.KEYS));
      return Cli.OK;
    }
    List<String> normalized = new ArrayList<>();
    String output = null;
    for (int i = 0; i < args.length; i++) {
      String a = args[i];
      String value;
      if (a.startsWith("--") && a.contains("=")) {
        value = a.substring(a.indexOf('=') + 1);
        a = a.substring(0, a.indexOf('='));
      } else if (a.startsWith("--") && i + 1 < args.length) {
        value = args[++i];
      } else {
        throw new IllegalArgumentException("bad argument '" + a + "'\n" + USAGE.substring(0, USAGE.indexOf('\n')));
      }
      String key = a.substring(2);
      if (INPUT_PATHS.contains(key)) {
        value = ProjectPaths.resolve(value).toString();
      }
      if (key.equals("output")) {
        output = value;
      }
      normalized.add(a);
      normalized.add(value);
    }
    if (output == null) {
      PreprocessMain.run(normalized.toArray(String[]::new)); // refuses the missing --output
      return Cli.INPUT;
    }
    try (OutputDirLock lock = OutputDirLock.acquire(DurableFiles.parentOf(java.nio.file.Path.of(output)),
        "preprocess", System.out::println)) {
      PreprocessMain.run(normalized.toArray(String[]::new));
    }
    return Cli.OK;
  }
}
