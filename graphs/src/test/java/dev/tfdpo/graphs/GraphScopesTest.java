package dev.tfdpo.graphs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.tensorflow.Graph;
import org.tensorflow.op.Ops;

/** What a scope costs and what it names: reserved scopes walk the graph once, when it is small. */
class GraphScopesTest {

  @AfterEach
  void off() {
    GraphScopes.countWalks(false);
  }

  @Test
  void aScopeWalksTheGraphAsItIsWhenCreated() {
    try (Graph g = new Graph()) {
      GraphScopes.countWalks(true);
      Ops tf = GraphScopes.root(g); // empty graph: 0 walked
      GraphScopes scopes = GraphScopes.of(tf).reserve("early");
      tf.constant(1f);
      tf.constant(2f);
      tf.constant(3f);
      assertEquals(0, GraphScopes.walkedOperations());
      Ops early = scopes.get("early"); // reserved: no walk
      assertEquals(0, GraphScopes.walkedOperations());
      scopes.get("late"); // created now: walks the 3 constants
      assertEquals(3, GraphScopes.walkedOperations());
      assertSame(early, scopes.get("early"));
    }
  }

  @Test
  void reservedScopesStillNameUniquely() {
    try (Graph g = new Graph()) {
      Ops tf = GraphScopes.root(g);
      GraphScopes scopes = GraphScopes.of(tf).reserve("a", "opt/acc");
      tf.constant(0f);
      assertEquals("a/Const", scopes.get("a").constant(1f).op().name());
      assertEquals("a/Const_1", scopes.get("a").constant(2f).op().name());
      assertEquals("opt/acc/x", scopes.get("opt/acc").withName("x").constant(3f).op().name());
      assertEquals("opt/Const", scopes.get("opt").constant(4f).op().name());
    }
  }
}
