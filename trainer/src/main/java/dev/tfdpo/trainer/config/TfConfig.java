package dev.tfdpo.trainer.config;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import com.google.gson.JsonSyntaxException;
import dev.tfdpo.graphs.GrpcCluster;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * The {@code TF_CONFIG} environment variable, as TensorFlow's MultiWorkerMirroredStrategy, Kubernetes'
 * TFJob and Vertex AI set it: {@code {"cluster": {"worker": ["host:port", ...]}, "task": {"type":
 * "worker", "index": i}}}. Only the job {@code worker} exists here (task 0 is the chief); anything else
 * is refused with what was wrong and what to write instead.
 */
public final class TfConfig {

  /** The environment variable's name. */
  public static final String ENV = "TF_CONFIG";

  private TfConfig() {}

  /** The cluster of this process from the environment; empty when {@code TF_CONFIG} is unset or blank. */
  public static Optional<GrpcCluster> fromEnvironment() {
    String value = System.getenv(ENV);
    return value == null || value.isBlank() ? Optional.empty() : Optional.of(parse(value));
  }

  /**
   * Parses one {@code TF_CONFIG} value.
   *
   * @throws ConfigException naming the field that is wrong
   */
  public static GrpcCluster parse(String json) {
    JsonElement root;
    try {
      root = JsonParser.parseString(json);
    } catch (JsonSyntaxException e) {
      throw error("is not valid JSON (" + e.getMessage() + ")");
    }
    if (!root.isJsonObject()) {
      throw error("must be a JSON object with \"cluster\" and \"task\"");
    }
    JsonObject top = root.getAsJsonObject();
    for (String key : top.keySet()) {
      if (!key.equals("cluster") && !key.equals("task") && !key.equals("environment") && !key.equals("rpc_layer")) {
        throw error("unknown field \"" + key + "\" (known: cluster, task, environment, rpc_layer)");
      }
    }
    if (top.has("rpc_layer") && !top.get("rpc_layer").getAsString().equals("grpc")) {
      throw error("rpc_layer \"" + top.get("rpc_layer").getAsString() + "\": only grpc is supported");
    }
    List<String> workers = workers(object(top, "cluster", "cluster"));
    JsonObject task = object(top, "task", "task");
    JsonElement type = task.get("type");
    if (type == null || !type.isJsonPrimitive() || !type.getAsString().equals(GrpcCluster.JOB)) {
      throw error("task.type must be \"worker\" (task 0 is the chief), got " + type);
    }
    JsonElement index = task.get("index");
    if (index == null || !index.isJsonPrimitive() || !index.getAsJsonPrimitive().isNumber()
        || index.getAsDouble() != Math.rint(index.getAsDouble())) {
      throw error("task.index must be an integer, got " + index);
    }
    int i = (int) index.getAsDouble();
    if (i < 0 || i >= workers.size()) {
      throw error("task.index " + i + " is not one of the " + workers.size() + " workers of cluster.worker (0.."
          + (workers.size() - 1) + ")");
    }
    return new GrpcCluster(workers, i);
  }

  private static List<String> workers(JsonObject cluster) {
    for (String job : cluster.keySet()) {
      if (!job.equals(GrpcCluster.JOB)) {
        throw error("cluster." + job + ": only the job \"worker\" is supported (task 0 is the chief; no "
            + "\"chief\", \"ps\" or \"evaluator\" job)");
      }
    }
    JsonElement list = cluster.get(GrpcCluster.JOB);
    if (list == null || !list.isJsonArray() || list.getAsJsonArray().isEmpty()) {
      throw error("cluster.worker must be a non-empty list of \"host:port\"");
    }
    List<String> out = new ArrayList<>();
    JsonArray items = list.getAsJsonArray();
    for (int k = 0; k < items.size(); k++) {
      JsonElement e = items.get(k);
      String address = e.isJsonPrimitive() ? e.getAsString() : "";
      int colon = address.lastIndexOf(':');
      if (colon <= 0 || !address.substring(colon + 1).matches("\\d{1,5}")
          || Integer.parseInt(address.substring(colon + 1)) == 0
          || Integer.parseInt(address.substring(colon + 1)) > 65535) {
        throw error("cluster.worker[" + k + "] " + e + " is not \"host:port\" (port 1..65535)");
      }
      if (out.contains(address)) {
        throw error("cluster.worker[" + k + "] " + address + " is listed twice: each task needs its own port");
      }
      out.add(address);
    }
    return out;
  }

  private static JsonObject object(JsonObject parent, String key, String where) {
    JsonElement e = parent.get(key);
    if (e == null || !e.isJsonObject()) {
      throw error(where + " is missing or not an object");
    }
    return e.getAsJsonObject();
  }

  private static ConfigException error(String what) {
    return new ConfigException(ENV + " " + what + "; expected {\"cluster\": {\"worker\": [\"host:port\", ...]}, "
        + "\"task\": {\"type\": \"worker\", \"index\": i}}");
  }
}
