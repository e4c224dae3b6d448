package dev.tfdpo.graphs.training;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.tfdpo.graphs.GraphScopes;
import dev.tfdpo.graphs.Recompute;
import dev.tfdpo.io.hf.LlamaConfig;
import dev.tfdpo.ops.AdamW;
import dev.tfdpo.ops.LossSpec;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Iterator;
import java.util.List;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.tensorflow.Graph;

/**
 * Graph building is linear in depth, measured without timing it: TensorFlow Java's sub-scope creation
 * walks every operation already in the graph ({@link GraphScopes}), so the operations those walks visit
 * are counted while training graphs of 1, 2 and 4 layers are built (synced live reference, the largest
 * graph).
 */
class GraphBuildWorkTest {

  static final Path ROOT = Path.of(System.getProperty("tfdpo.root", ".")).toAbsolutePath();
  static final Path TINY = ROOT.resolve("test/fixtures/tiny-llama-a");
  static final int[] DEPTHS = {1, 2, 4};

  /**
   * TensorFlow Java calls that walk the graph: sub-scopes, a root {@code Ops}, and the {@code Zeros},
   * {@code Ones} and {@code BooleanMask} helpers, which open a sub-scope inside (Shapes.zeros does not).
   */
  static final Pattern SCOPE_CALL = Pattern.compile(
      "\\.withSubScope\\(|Ops\\.create\\(|withNameAsSubScope\\(|(?<!Shapes)\\.zeros\\(|\\.ones\\(|booleanMask");
  static long[] walked = new long[DEPTHS.length];
  static long[] operations = new long[DEPTHS.length];
  /** The same with each recompute granularity (one row per {@link Recompute.Granularity}). */
  static long[][] recomputeWalked = new long[Recompute.Granularity.values().length][DEPTHS.length];
  static long[][] recomputeOperations = new long[Recompute.Granularity.values().length][DEPTHS.length];

  @BeforeAll
  static void buildGraphs() throws IOException {
    JsonObject json = JsonParser.parseString(Files.readString(TINY.resolve("config.json"))).getAsJsonObject();
    try {
      for (int i = 0; i < DEPTHS.length; i++) {
        json.addProperty("num_hidden_layers", DEPTHS[i]);
        LlamaConfig c = LlamaConfig.fromJson(json, "tiny-llama-a with " + DEPTHS[i] + " layers");
        GraphScopes.countWalks(true);
        DpoGraph.Settings s = new DpoGraph.Settings(c, LossSpec.builder("sigmoid").build(),
            new AdamW.Hyper(0.9f, 0.999f, 1e-8f), 1.0, 1, DpoGraph.Reference.synced(c, 1.0));
        try (DpoGraph g = DpoGraph.build(s)) {
          walked[i] = GraphScopes.walkedOperations();
          operations[i] = count(g.session().graph());
        }
        for (Recompute.Granularity r : Recompute.Granularity.values()) {
          GraphScopes.countWalks(true);
          try (DpoGraph g = DpoGraph.build(s.withRecompute(r))) {
            recomputeWalked[r.ordinal()][i] = GraphScopes.walkedOperations();
            recomputeOperations[r.ordinal()][i] = count(g.session().graph());
          }
        }
      }
    } finally {
      GraphScopes.countWalks(false);
    }
  }

  @Test
  void theGraphGrowsLinearly() {
    // Each layer adds the same operations (forward, backward, optimizer, reference, sync): equal steps.
    long perLayer = operations[1] - operations[0];
    assertTrue(perLayer > 0);
    assertEquals(operations[2] - operations[1], 2 * perLayer);
  }

  @Test
  void scopeCreationWalksDoNotGrowWithDepth() {
    // Every sub-scope is created before the first layer's operations exist, so the walks visit the same
    // operations at every depth; with one scope per variable (the old gradient accumulators) they grew
    // with depth squared.
    assertEquals(walked[0], walked[1], "1 vs 2 layers");
    assertEquals(walked[0], walked[2], "1 vs 4 layers");
    assertTrue(walked[0] < operations[0], "walked " + walked[0] + " of " + operations[0]);
  }

  @Test
  void recomputeGraphsGrowLinearlyToo() {
    // Recompute adds per layer a second copy of the recomputed blocks and one gradient call per block:
    // still the same operations for every layer, and no scope created after the graph has grown.
    for (Recompute.Granularity r : Recompute.Granularity.values()) {
      long[] ops = recomputeOperations[r.ordinal()];
      long perLayer = ops[1] - ops[0];
      assertTrue(perLayer > operations[1] - operations[0], r + ": the copies add operations");
      assertEquals(ops[2] - ops[1], 2 * perLayer, r + " operations per layer");
      assertEquals(walked[0], recomputeWalked[r.ordinal()][0], r + " walks, 1 layer");
      assertEquals(walked[0], recomputeWalked[r.ordinal()][2], r + " walks, 4 layers");
    }
  }

  @Test
  void onlyGraphScopesCreatesScopes() throws IOException {
    // The walk count above covers the scopes made through GraphScopes; any other sub-scope or root Ops
    // in main code would escape it.
    List<String> offenders;
    try (Stream<Path> files = Files.walk(ROOT)) {
      offenders = files
          .filter(p -> p.toString().endsWith(".java") && p.toString().contains("/src/main/java/"))
          .filter(p -> !p.getFileName().toString().equals("GraphScopes.java"))
          .filter(GraphBuildWorkTest::createsScopes)
          .map(p -> ROOT.relativize(p).toString())
          .toList();
    }
    assertEquals(List.of(), offenders);
  }

  private static boolean createsScopes(Path file) {
    try {
      return SCOPE_CALL.matcher(Files.readString(file)).find();
    } catch (IOException e) {
      throw new IllegalStateException(e);
    }
  }

  private static long count(Graph graph) {
    long n = 0;
    for (Iterator<?> it = graph.operations(); it.hasNext(); it.next()) {
      n++;
    }
    return n;
  }
}
