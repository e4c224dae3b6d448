package dev.tfdpo.graphs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.ServerSocket;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.tensorflow.exceptions.TensorFlowException;

/**
 * What one task publishes in its own TensorFlow server ({@link GrpcCluster#publish}) another task reads
 * through its own server ({@link GrpcCluster#read}): the start-up comparison of the workers' configs and the
 * liveness probe rest on it (docs/distributed.md, "Faults"). Both tasks are servers of this JVM here; the
 * e2e tests (DistributedErrorsTest, HungWorkerTest) run them as separate processes.
 */
class GrpcClusterTest {

  private static int freePort() throws Exception {
    try (ServerSocket s = new ServerSocket(0)) {
      return s.getLocalPort();
    }
  }

  @Test
  void aTaskReadsWhatAnotherPublishedAndNothingBefore() throws Exception {
    List<String> workers = List.of("127.0.0.1:" + freePort(), "127.0.0.1:" + freePort(), "127.0.0.1:" + freePort());
    GrpcCluster chief = new GrpcCluster(workers, 0);
    GrpcCluster one = new GrpcCluster(workers, 1);
    chief.start(Sessions.config(1));
    one.start(Sessions.config(1));
    // Task 2 never starts: the reads of task 1 must not wait for it (device_filters).
    assertThrows(TensorFlowException.class, () -> chief.read(1, Sessions.config(1)), "nothing published yet");
    one.publish("{\"beta\": 0.1}", Sessions.config(1));
    assertEquals("{\"beta\": 0.1}", chief.read(1, Sessions.config(1)));
    one.publish("second", Sessions.config(1));
    assertEquals(Optional.of("second"), chief.readWithin(1, Sessions.config(1), 30_000));
    chief.publish("the chief", Sessions.config(1));
    assertEquals("the chief", one.read(0, Sessions.config(1)));
    assertFalse(one.greeted(Sessions.config(1)));
    chief.greet(1, Sessions.config(1));
    assertTrue(one.greeted(Sessions.config(1)));
    assertFalse(chief.greeted(Sessions.config(1)));
  }
}
