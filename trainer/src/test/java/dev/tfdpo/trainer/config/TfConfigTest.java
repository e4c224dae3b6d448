package dev.tfdpo.trainer.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tfdpo.graphs.GrpcCluster;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The {@code TF_CONFIG} environment variable: what TensorFlow's multi-worker set-ups write, and every refusal. */
class TfConfigTest {

  @Test
  void parsesTheClusterAndTask() {
    GrpcCluster c = TfConfig.parse("{\"cluster\": {\"worker\": [\"10.0.0.1:2222\", \"10.0.0.2:2222\"]}, "
        + "\"task\": {\"type\": \"worker\", \"index\": 1}}");
    assertEquals(List.of("10.0.0.1:2222", "10.0.0.2:2222"), c.workers());
    assertEquals(1, c.task());
    assertEquals("grpc://10.0.0.2:2222", c.target());
    assertEquals(List.of("/job:worker/replica:0/task:0/device:CPU:0", "/job:worker/replica:0/task:1/device:CPU:0"),
        c.devices());
    assertEquals("/job:worker/replica:0/task:0",
        c.serverDef(org.tensorflow.proto.ConfigProto.getDefaultInstance()).getDefaultSessionConfig()
            .getExperimental().getCollectiveGroupLeader());
  }

  @Test
  void keepsTheFieldsOtherToolsAdd() {
    GrpcCluster c = TfConfig.parse("{\"cluster\": {\"worker\": [\"h:1\"]}, \"task\": {\"type\": \"worker\", "
        + "\"index\": 0}, \"environment\": \"cloud\", \"rpc_layer\": \"grpc\"}");
    assertTrue(c.chief());
  }

  @Test
  void refusesWhatItCannotRun() {
    refused("{", "is not valid JSON");
    refused("[1]", "must be a JSON object");
    refused("{\"task\": {\"type\": \"worker\", \"index\": 0}}", "cluster is missing");
    refused("{\"cluster\": {\"worker\": [\"h:1\"]}}", "task is missing");
    refused("{\"cluster\": {\"worker\": [\"h:1\"], \"ps\": [\"h:2\"]}, \"task\": {\"type\": \"worker\", \"index\": 0}}",
        "cluster.ps: only the job \"worker\"");
    refused("{\"cluster\": {\"chief\": [\"h:1\"]}, \"task\": {\"type\": \"chief\", \"index\": 0}}",
        "cluster.chief: only the job \"worker\"");
    refused("{\"cluster\": {\"worker\": []}, \"task\": {\"type\": \"worker\", \"index\": 0}}", "non-empty list");
    refused("{\"cluster\": {\"worker\": [\"h\"]}, \"task\": {\"type\": \"worker\", \"index\": 0}}",
        "cluster.worker[0] \"h\" is not \"host:port\"");
    refused("{\"cluster\": {\"worker\": [\"h:70000\"]}, \"task\": {\"type\": \"worker\", \"index\": 0}}",
        "port 1..65535");
    refused("{\"cluster\": {\"worker\": [\"h:1\", \"h:1\"]}, \"task\": {\"type\": \"worker\", \"index\": 0}}",
        "cluster.worker[1] h:1 is listed twice");
    refused("{\"cluster\": {\"worker\": [\"h:1\"]}, \"task\": {\"type\": \"ps\", \"index\": 0}}",
        "task.type must be \"worker\"");
    refused("{\"cluster\": {\"worker\": [\"h:1\"]}, \"task\": {\"type\": \"worker\", \"index\": 1.5}}",
        "task.index must be an integer");
    refused("{\"cluster\": {\"worker\": [\"h:1\", \"h:2\"]}, \"task\": {\"type\": \"worker\", \"index\": 2}}",
        "task.index 2 is not one of the 2 workers of cluster.worker (0..1)");
    refused("{\"cluster\": {\"worker\": [\"h:1\"]}, \"task\": {\"type\": \"worker\", \"index\": 0}, \"tasks\": 1}",
        "unknown field \"tasks\"");
    refused("{\"cluster\": {\"worker\": [\"h:1\"]}, \"task\": {\"type\": \"worker\", \"index\": 0}, "
        + "\"rpc_layer\": \"grpc+verbs\"}", "only grpc is supported");
  }

  private static void refused(String json, String says) {
    ConfigException e = assertThrows(ConfigException.class, () -> TfConfig.parse(json), json);
    assertTrue(e.getMessage().startsWith("TF_CONFIG "), e.getMessage());
    assertTrue(e.getMessage().contains(says), e.getMessage());
    assertTrue(e.getMessage().contains("expected {\"cluster\""), e.getMessage());
  }
}
