package dev.tfdpo.graphs;

import java.util.HashMap;
import java.util.Iterator;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;
import org.tensorflow.ExecutionEnvironment;
import org.tensorflow.Graph;
import org.tensorflow.op.Ops;

/**
 * The one place where graph code creates named sub-scopes, so that building a graph stays linear in
 * its size.
 *
 * <p>TensorFlow Java 1.1's {@code Ops.withSubScope} (and {@code Ops.create}) walk every operation already
 * in the graph ({@code NameScope.importIdsFrom}, one JNI call per operation). One sub-scope per variable
 * or per layer made a 30-layer graph take minutes to build. Here a graph's scopes are created by
 * {@link #reserve} while the graph is still nearly empty, and {@link #get} hands out the same {@code Ops}
 * afterwards: an {@code Ops} keeps its own name counter, so later ops in it still get unique names.
 * A scope that was not reserved is created on first use (correct, but it walks the graph as it is then).
 *
 * <p>{@link #walkedOperations()} counts, when {@link #countWalks} is on, the operations those walks
 * visit: a test measure of graph-building work that does not depend on timing.
 */
public final class GraphScopes {

  private static volatile boolean counting;
  private static final AtomicLong WALKED = new AtomicLong();

  private final Ops root;
  private final Map<String, Ops> scopes = new HashMap<>();

  private GraphScopes(Ops root) {
    this.root = root;
  }

  /** The root {@code Ops} of a new graph; call before adding operations (it walks the graph once). */
  public static Ops root(Graph graph) {
    count(graph);
    return Ops.create(graph);
  }

  /** Sub-scopes of {@code root}, none created yet. */
  public static GraphScopes of(Ops root) {
    return new GraphScopes(root);
  }

  /** Creates the named sub-scopes now (each walks the graph as it is); names already present are kept. */
  public GraphScopes reserve(Iterable<String> names) {
    for (String name : names) {
      get(name);
    }
    return this;
  }

  /** {@link #reserve(Iterable)} of the given names. */
  public GraphScopes reserve(String... names) {
    return reserve(java.util.List.of(names));
  }

  /**
   * The sub-scope {@code name} ({@code name/...} op names; {@code a/b} is {@code b} inside {@code a}),
   * created now if it was not reserved.
   */
  public Ops get(String name) {
    Ops scope = scopes.get(name);
    if (scope == null) {
      int slash = name.lastIndexOf('/');
      Ops parent = slash < 0 ? root : get(name.substring(0, slash));
      count(root.scope().env());
      scope = parent.withSubScope(name.substring(slash + 1));
      scopes.put(name, scope);
    }
    return scope;
  }

  /** The unscoped {@code Ops}. */
  public Ops root() {
    return root;
  }

  /** Turns the walk count on or off (tests); off by default, when it costs nothing. */
  public static void countWalks(boolean on) {
    counting = on;
    WALKED.set(0);
  }

  /** Operations visited by scope creation since {@link #countWalks} was turned on. */
  public static long walkedOperations() {
    return WALKED.get();
  }

  private static void count(ExecutionEnvironment env) {
    if (!counting || !(env instanceof Graph graph)) {
      return;
    }
    long n = 0;
    for (Iterator<?> it = graph.operations(); it.hasNext(); it.next()) {
      n++;
    }
    WALKED.addAndGet(n);
  }
}
