package dev.tfdpo.report;

import com.google.gson.JsonElement;
import com.google.gson.JsonParseException;
import com.google.gson.JsonParser;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.Reader;
import java.nio.charset.MalformedInputException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * What format detectors look at, computed once per input file and only when a detector asks: the first
 * non-blank line, that line as JSON, the whole file as JSON. Readers reuse the parsed JSON.
 */
final class Sniff {

  private static final JsonElement NOT_JSON = JsonParser.parseString("null");

  private final Path file;
  private String firstLine;
  private JsonElement firstLineJson;
  private JsonElement wholeJson;

  Sniff(Path file) {
    this.file = file;
  }

  Path file() {
    return file;
  }

  String fileName() {
    return file.getFileName().toString();
  }

  /** The first non-blank line without a byte-order mark, or "" for an empty file. */
  String firstLine() throws IOException {
    if (firstLine == null) {
      firstLine = "";
      try (BufferedReader in = Files.newBufferedReader(file, StandardCharsets.UTF_8)) {
        String line;
        while ((line = in.readLine()) != null) {
          if (!line.isBlank()) {
            firstLine = stripBom(line);
            break;
          }
        }
      } catch (MalformedInputException binary) {
        firstLine = "";
      }
    }
    return firstLine;
  }

  /** The first non-blank line parsed as JSON, or null when it is not JSON. */
  JsonElement firstLineJson() throws IOException {
    if (firstLineJson == null) {
      firstLineJson = parseOrMarker(firstLine());
    }
    return firstLineJson == NOT_JSON ? null : firstLineJson;
  }

  /** The whole file parsed as one JSON value, or null when it is not one JSON value. */
  JsonElement wholeJson() throws IOException {
    if (wholeJson == null) {
      String start = firstLine().stripLeading();
      if (!start.startsWith("{") && !start.startsWith("[")) {
        wholeJson = NOT_JSON;
      } else {
        try (Reader in = Files.newBufferedReader(file, StandardCharsets.UTF_8)) {
          wholeJson = JsonParser.parseReader(in);
        } catch (JsonParseException notOneValue) {
          wholeJson = NOT_JSON;
        }
      }
    }
    return wholeJson == NOT_JSON ? null : wholeJson;
  }

  static String stripBom(String line) {
    return line.startsWith("\uFEFF") ? line.substring(1) : line;
  }

  private static JsonElement parseOrMarker(String text) {
    if (text.isEmpty()) {
      return NOT_JSON;
    }
    try {
      return JsonParser.parseString(text);
    } catch (JsonParseException notJson) {
      return NOT_JSON;
    }
  }
}
