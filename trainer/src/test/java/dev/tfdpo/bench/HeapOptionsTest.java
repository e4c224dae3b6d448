package dev.tfdpo.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.tfdpo.trainer.ProjectPaths;
import dev.tfdpo.trainer.config.TrainConfig;
import java.io.RandomAccessFile;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The training JVM's heap options (BenchMain.heapOptions and lib.sh's tfdpo_train_heap, which
 * scripts/train.sh uses): the ceiling still grows with the data (1 GiB plus twice the data files), while
 * the heap starts at 32 MB and gives memory back, so the resident heap follows what the run holds
 * (docs/memory.md, "Where the memory goes").
 */
class HeapOptionsTest {

  private static final Path CONFIG = ProjectPaths.root().resolve("configs/bench/smollm2-135m.json");
  private static final String REST =
      "-Xms32m -XX:MinHeapFreeRatio=10 -XX:MaxHeapFreeRatio=30 -Dorg.bytedeco.javacpp.maxPhysicalBytes=0";

  @TempDir Path dir;

  @Test
  void smallDataGetsTheBaseCeilingAndASmallStart() throws Exception {
    // pref-en-64.jsonl is ~100 KB: the ceiling is the 1 GiB base.
    assertEquals("-Xmx1024m " + REST, String.join(" ", BenchMain.heapOptions(TrainConfig.load(CONFIG, List.of()))));
  }

  @Test
  void theCeilingStillGrowsWithTheDataAndTheScriptAgrees() throws Exception {
    Path data = dir.resolve("big.jsonl");
    try (RandomAccessFile f = new RandomAccessFile(data.toFile(), "rw")) {
      f.setLength(300L << 20); // sparse: its size counts, no disk is used
    }
    List<String> args = List.of("--train_dataset_path", data.toString());
    String java = String.join(" ", BenchMain.heapOptions(TrainConfig.load(CONFIG, args)));
    assertEquals("-Xmx" + (1024 + 600) + "m " + REST, java);
    assertEquals(java, script(args));
  }

  /** lib.sh's options for the same config and arguments. */
  private static String script(List<String> args) throws Exception {
    Path lib = ProjectPaths.root().resolve("scripts/lib.sh");
    Process p = new ProcessBuilder("bash", "-c", "source \"$0\" && tfdpo_train_heap \"$@\"", lib.toString(),
        CONFIG.toString(), args.get(0), args.get(1)).redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
    assertEquals(0, p.waitFor(), out);
    return out;
  }
}
