package dev.tfdpo.graphs.training;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.tensorflow.proto.DeviceStepStats;
import org.tensorflow.proto.NodeExecStats;
import org.tensorflow.proto.RunMetadata;
import org.tensorflow.proto.StepStats;

/** The profile of a traced step ({@link StepTrace}): op types from TensorFlow's labels, time summed by type. */
class StepTraceTest {

  @TempDir Path work;

  private static NodeExecStats node(String name, String label, long start, long micros, int thread) {
    return NodeExecStats.newBuilder().setNodeName(name).setTimelineLabel(label).setAllStartMicros(start)
        .setAllEndRelMicros(micros).setThreadId(thread).build();
  }

  private static RunMetadata run(String device, NodeExecStats... nodes) {
    return RunMetadata.newBuilder().setStepStats(StepStats.newBuilder().addDevStats(
        DeviceStepStats.newBuilder().setDevice(device).addAllNodeStats(List.of(nodes)))).build();
  }

  @Test
  void typesComeFromTheLabelsAndTimesAddUpByType() throws Exception {
    // Labels as TensorFlow's executor writes them, with and without oneDNN's memory prefix.
    assertEquals("MatMul", StepTrace.type(node("m", "m = MatMul(a, b)", 0, 1, 0)));
    assertEquals("_MklMatMul", StepTrace.type(node("g/MatMul_3",
        "[mklcpu 2.0MB 2.0MB] g/MatMul_3 = _MklMatMul(g/AddN_3, forward/Gather_2)", 0, 1, 0)));
    assertEquals("_SOURCE", StepTrace.type(node("_SOURCE", "", 0, 1, 0)));

    StepTrace trace = new StepTrace();
    trace.add(run("/job:localhost/replica:0/task:0/device:CPU:0", node("m1", "m1 = MatMul(a, b)", 100, 30, 1),
        node("x", "x = Mul(a, b)", 110, 5, 2), node("m2", "m2 = MatMul(a, c)", 140, 20, 1)), 2_000_000);
    trace.add(run("/job:localhost/replica:0/task:0/device:CPU:0", node("y", "y = Mul(m1, m2)", 500, 7, 1)), 1_000_000);
    assertEquals(List.of(new StepTrace.TypeTime("MatMul", 2, 50), new StepTrace.TypeTime("Mul", 2, 12)), trace.byType());

    List<String> table = trace.write(work, 7);
    assertEquals("profile of step 7: 2 session run(s), 0.003 s wall while traced, 0.000 s of kernel time summed "
        + "over threads", table.get(0));
    assertTrue(table.get(2).startsWith("MatMul ") && table.get(2).endsWith("80.6%"), table.get(2)); // 50 / 62
    assertEquals(table, Files.readAllLines(work.resolve("step-7.ops.txt")));
    JsonObject chrome = JsonParser.parseString(Files.readString(work.resolve("step-7.trace.json"))).getAsJsonObject();
    var events = chrome.getAsJsonArray("traceEvents");
    assertEquals(5, events.size(), "4 kernels and the device's name");
    JsonObject first = events.get(0).getAsJsonObject();
    assertEquals(0, first.get("ts").getAsLong(), "times start at the first kernel");
    assertEquals(30, first.get("dur").getAsLong());
    assertEquals("MatMul", first.get("cat").getAsString());
    assertEquals(400, events.get(3).getAsJsonObject().get("ts").getAsLong());
  }
}
