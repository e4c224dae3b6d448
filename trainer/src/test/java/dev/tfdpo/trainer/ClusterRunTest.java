package dev.tfdpo.trainer;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tfdpo.graphs.GrpcCluster;
import dev.tfdpo.graphs.Sessions;
import java.net.ServerSocket;
import java.util.List;
import org.junit.jupiter.api.Test;

/** When a worker ends: once the chief it has seen is gone ({@link ClusterRun#awaitChiefGone}). */
class ClusterRunTest {

  private static int freePort() throws Exception {
    try (ServerSocket s = new ServerSocket(0)) {
      return s.getLocalPort();
    }
  }

  /**
   * A chief that refuses a worker's config can end before the worker's first probe of its port: the
   * worker then never sees the port open, and only the chief's greeting tells it the chief was there (the
   * e2e DistributedErrorsTest hung on this once, on a loaded machine).
   */
  @Test
  void aWorkerWaitsForAChiefItHasNotSeenAndEndsOnceGreetedByOneThatHasGone() throws Exception {
    // The chief's port is never opened here: the chief has come and gone, or has not come yet.
    GrpcCluster worker = new GrpcCluster(List.of("127.0.0.1:" + freePort(), "127.0.0.1:" + freePort()), 1);
    worker.start(Sessions.config(1));
    Thread waiting = new Thread(() -> ClusterRun.awaitChiefGone(worker), "await-chief");
    waiting.setDaemon(true);
    waiting.start();
    // Not greeted: a worker started before its chief waits for it.
    waiting.join((ClusterRun.PROBES_LOST + 1) * ClusterRun.PROBE_MS + 500L);
    assertTrue(waiting.isAlive(), "a worker ended before any chief was there");
    // The greeting as the chief writes it into this task's server (here through the worker's own server).
    worker.greet(1, Sessions.config(1));
    waiting.join((ClusterRun.PROBES_LOST + 2) * ClusterRun.PROBE_MS + 5_000L);
    assertFalse(waiting.isAlive(), "a greeted worker whose chief has gone did not end");
  }
}
