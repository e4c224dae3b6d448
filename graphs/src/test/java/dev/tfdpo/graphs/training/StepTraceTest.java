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
import org.tensorflow.proto.AllocatorMemoryUsed;
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

  private static NodeExecStats withMemory(NodeExecStats n, String allocator, long inUse) {
    return n.toBuilder().addMemory(AllocatorMemoryUsed.newBuilder().setAllocatorName(allocator)
        .setAllocatorBytesInUse(inUse)).build();
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
    // Bytes in use as each kernel ends (m1 at 130, x at 115, m2 at 160): 500, then 1000 + 500, then 3000 + 500.
    trace.add(run("/job:localhost/replica:0/task:0/device:CPU:0",
        withMemory(node("m1", "m1 = MatMul(a, b)", 100, 30, 1), "cpu", 1000),
        withMemory(node("x", "x = Mul(a, b)", 110, 5, 2), "mklcpu", 500),
        withMemory(node("m2", "m2 = MatMul(a, c)", 140, 20, 1), "cpu", 3000)), 2_000_000);
    trace.add(run("/job:localhost/replica:0/task:0/device:CPU:0",
        withMemory(node("y", "y = Mul(m1, m2)", 500, 7, 1), "cpu", 200)), 1_000_000);
    assertEquals(3500, trace.memoryPeak().bytes());
    assertEquals("m2", trace.memoryPeak().at().name());
    assertEquals(List.of(new StepTrace.TypeTime("MatMul", 2, 50), new StepTrace.TypeTime("Mul", 2, 12)), trace.byType());

    List<String> table = trace.write(work, 7);
    assertEquals("profile of step 7: 2 session run(s), 0.003 s wall while traced, 0.000 s of kernel time summed "
        + "over threads", table.get(0));
    assertEquals("allocators' peak: 0.0 MB in use after m2 (MatMul)", table.get(1));
    assertTrue(table.get(3).startsWith("MatMul ") && table.get(3).endsWith("80.6%"), table.get(3)); // 50 / 62
    assertEquals(table, Files.readAllLines(work.resolve("step-7.ops.txt")));
    JsonObject chrome = JsonParser.parseString(Files.readString(work.resolve("step-7.trace.json"))).getAsJsonObject();
    var events = chrome.getAsJsonArray("traceEvents");
    assertEquals(9, events.size(), "4 kernels, their 4 memory counters and the device's name");
    JsonObject first = events.get(0).getAsJsonObject();
    assertEquals(0, first.get("ts").getAsLong(), "times start at the first kernel");
    assertEquals(30, first.get("dur").getAsLong());
    assertEquals("MatMul", first.get("cat").getAsString());
    assertEquals("C", events.get(1).getAsJsonObject().get("ph").getAsString());
    assertEquals(1000, events.get(1).getAsJsonObject().getAsJsonObject("args").get("cpu").getAsLong());
    assertEquals(400, events.get(6).getAsJsonObject().get("ts").getAsLong());
  }
}
