package dev.tfdpo.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * The package structure, read from the main sources' {@code package} and {@code import} lines: no two
 * packages import each other, directly or around a loop, and every package says in a
 * {@code package-info.java} what it holds and may import.
 */
class PackageStructureTest {

  static final Path ROOT = Path.of(System.getProperty("tfdpo.root", "..")).toAbsolutePath().normalize();

  private static final Pattern PACKAGE = Pattern.compile("^package ([\\w.]+);", Pattern.MULTILINE);
  private static final Pattern IMPORT =
      Pattern.compile("^import (?:static )?(dev\\.tfdpo(?:\\.[a-z]\\w*)+)\\.[A-Z]", Pattern.MULTILINE);

  @Test
  void noPackageImportCycle() throws IOException {
    Map<String, Set<String>> imports = importsByPackage();
    List<List<String>> cycles = new Tarjan(imports).cycles();
    assertEquals(List.of(), cycles, "packages importing each other (directly or in a loop)");
  }

  @Test
  void everyPackageHasPackageInfo() throws IOException {
    for (Path dir : packageDirs()) {
      assertTrue(Files.isRegularFile(dir.resolve("package-info.java")), ROOT.relativize(dir) + " has no package-info.java");
    }
  }

  private static List<Path> sources() throws IOException {
    List<Path> out = new ArrayList<>();
    try (Stream<Path> modules = Files.list(ROOT)) {
      for (Path module : modules.toList()) {
        Path main = module.resolve("src/main/java");
        if (Files.isDirectory(main)) {
          try (Stream<Path> files = Files.walk(main)) {
            files.filter(f -> f.toString().endsWith(".java")).forEach(out::add);
          }
        }
      }
    }
    return out;
  }

  private static Set<Path> packageDirs() throws IOException {
    Set<Path> dirs = new TreeSet<>();
    for (Path f : sources()) {
      dirs.add(f.getParent());
    }
    return dirs;
  }

  private static Map<String, Set<String>> importsByPackage() throws IOException {
    Map<String, Set<String>> imports = new TreeMap<>();
    for (Path f : sources()) {
      String text = Files.readString(f);
      Matcher p = PACKAGE.matcher(text);
      if (!p.find()) {
        continue;
      }
      Set<String> mine = imports.computeIfAbsent(p.group(1), k -> new TreeSet<>());
      Matcher m = IMPORT.matcher(text);
      while (m.find()) {
        if (!m.group(1).equals(p.group(1))) {
          mine.add(m.group(1));
        }
      }
    }
    return imports;
  }

  /** Tarjan's strongly connected components; a component of two or more packages is a cycle. */
  private static final class Tarjan {
    private final Map<String, Set<String>> edges;
    private final Map<String, Integer> index = new HashMap<>();
    private final Map<String, Integer> low = new HashMap<>();
    private final Deque<String> stack = new ArrayDeque<>();
    private final List<List<String>> cycles = new ArrayList<>();

    Tarjan(Map<String, Set<String>> edges) {
      this.edges = edges;
    }

    List<List<String>> cycles() {
      edges.keySet().forEach(v -> {
        if (!index.containsKey(v)) {
          visit(v);
        }
      });
      return cycles;
    }

    private void visit(String v) {
      index.put(v, index.size());
      low.put(v, index.get(v));
      stack.push(v);
      for (String w : edges.getOrDefault(v, Set.of())) {
        if (!index.containsKey(w)) {
          visit(w);
          low.put(v, Math.min(low.get(v), low.get(w)));
        } else if (stack.contains(w)) {
          low.put(v, Math.min(low.get(v), index.get(w)));
        }
      }
      if (low.get(v).equals(index.get(v))) {
        List<String> component = new ArrayList<>();
        String w;
        do {
          w = stack.pop();
          component.add(w);
        } while (!w.equals(v));
        if (component.size() > 1) {
          cycles.add(component);
        }
      }
    }
  }
}
