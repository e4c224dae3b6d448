package dev.tfdpo.trainer;

import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** Paths of the repository's copies of the golden files, and small JSON helpers for tests. */
final class Golden {

  static final Path ROOT = Path.of(System.getProperty("tfdpo.root", ".")).toAbsolutePath();
  static final Path FIXTURES = ROOT.resolve("test/fixtures");
  static final Path TINY = FIXTURES.resolve("tiny-llama-a");
  static final Path GOLDEN = FIXTURES.resolve("golden");
  static final Path TOKENS = GOLDEN.resolve("a-sigmoid/tokens.jsonl");
  static final Path CURVE = GOLDEN.resolve("a-sigmoid/curve.jsonl");

  private Golden() {}

  /** A path written in a golden file (relative to the shared folder) as a repository path. */
  static Path resolveShared(String sharedRelative) {
    if (sharedRelative.startsWith("fixtures/")) {
      return FIXTURES.resolve(sharedRelative.substring("fixtures/".length()));
    }
    return FIXTURES.resolve(sharedRelative);
  }

  static JsonObject readObject(Path file) throws IOException {
    return JsonParser.parseString(Files.readString(file)).getAsJsonObject();
  }

  static double[] doubles(JsonArray a) {
    double[] out = new double[a.size()];
    for (int i = 0; i < out.length; i++) {
      out[i] = a.get(i).getAsDouble();
    }
    return out;
  }

  static double l2(float[] x) {
    double s = 0;
    for (float v : x) {
      s += (double) v * v;
    }
    return Math.sqrt(s);
  }
}
