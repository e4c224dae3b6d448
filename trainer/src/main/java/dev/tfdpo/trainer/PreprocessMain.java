package dev.tfdpo.data;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Command line: tokenizes a data file once into a {@link PreprocessedFile}.
 *
 * <p>{@code --input F --output F --model_name_or_path DIR [--key value ...]} with the keys of
 * {@link DataOptions#KEYS}. Prints the data summary; exits 1 on bad rows or options, with the reason.
 */
public final class PreprocessMain {

  private PreprocessMain() {}

  public static void main(String[] args) {
    try {
      run(args);
    } catch (IllegalArgumentException | BadRowsException | DataFormatException e) {
      System.err.println("error: " + e.getMessage());
      System.exit(1);
    } catch (java.io.IOException e) {
      System.err.println("error: " + e);
      System.exit(1);
    }
  }

  static DataSummary run(String[] args) throws java.io.IOException {
    Map<String, String> keys = new LinkedHashMap<>();
    for (int i = 0; i < args.length; i++) {
      String a = args[i];
      if (!a.startsWith("--") || i + 1 >= args.length) {
        throw new IllegalArgumentException(
            "usage: preprocess.sh --input F --output F --model_name_or_path DIR [--key value ...]; "
                + "bad argument '" + a + "'");
      }
      keys.put(a.substring(2), args[++i]);
    }
    String input = keys.remove("input");
    String output = keys.remove("output");
    if (input == null || output == null) {
      throw new IllegalArgumentException("--input and --output are required");
    }
    DataOptions options = DataOptions.fromKeys(Path.of(input), keys);
    DataSummary summary = PreprocessedFile.write(options, Path.of(output));
    System.out.println(summary.format());
    System.out.println("wrote " + output);
    return summary;
  }
}
