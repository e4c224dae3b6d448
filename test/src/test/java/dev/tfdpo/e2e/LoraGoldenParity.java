package dev.tfdpo.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonObject;
import dev.tfdpo.io.hf.PeftAdapter;
import dev.tfdpo.trainer.DpoTrainer;
import dev.tfdpo.trainer.config.TrainConfig;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.TreeSet;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;

/**
 * A TRL 1.13 + PEFT 0.21 LoRA DPO run on fixture a other than the r4 golden ({@code test/fixtures/golden/
 * lora/README.md}) reproduced by the trainer: the shipped config {@code configs/reproduce/trl-dpo-lora-tiny
 * .json} (the same data, batch, schedule and optimizer as TRL's run) started from PEFT's own starting
 * adapter of that run ({@code <name>-init/}, given as {@code lora_path}, whose {@code adapter_config.json}
 * sets r, alpha and rsLoRA). The loss within 1e-4 at every step and the written adapter within 1e-5
 * relative L2 per tensor of TRL's trained one ({@code <name>-final/}): the bounds, as in
 * {@link LoraCurveParityTest}; every other logged metric within the full fine-tuning run's bounds
 * ({@link CurveParity}). One training run per class.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
abstract class LoraGoldenParity {

  /** The run's files in {@code golden/lora/}: {@code <name>.jsonl}, {@code <name>-init/}, {@code <name>-final/}. */
  abstract String name();

  /** Overrides on top of the shipped config (e.g. {@code --devices 2}); none by default. */
  List<String> extraArgs() {
    return List.of();
  }

  Path out;
  /** The trainer's arguments of the run, after the config. */
  List<String> args;
  List<JsonObject> golden;
  List<JsonObject> ours;

  @BeforeAll
  void train(@TempDir Path dir) throws Exception {
    out = dir.resolve("run");
    args = new ArrayList<>(List.of("--output_dir", out.toString(), "--report_to", "none",
        "--lora_path", LoraCurveParityTest.GOLDEN.resolve(name() + "-init").toString()));
    args.addAll(extraArgs());
    run(args, dir);
    golden = TrlCurveParityTest.lines(LoraCurveParityTest.GOLDEN.resolve(name() + ".jsonl"));
    ours = TrlCurveParityTest.lines(out.resolve(DpoTrainer.METRICS_FILE));
  }

  /** Trains the shipped config with {@code args} (its output directory among them) in this JVM. */
  void run(List<String> args, Path dir) throws Exception {
    DpoTrainer.run(TrainConfig.load(LoraCurveParityTest.CONFIG, args), new PrintStream(new ByteArrayOutputStream()),
        false);
  }

  @Test
  void lossWithinBoundAtEveryStep() {
    assertEquals(golden.size(), ours.size());
    double worst = 0;
    for (int i = 0; i < golden.size(); i++) {
      double diff = Math.abs(ours.get(i).get("loss").getAsDouble() - golden.get(i).get("loss").getAsDouble());
      worst = Math.max(worst, diff);
      assertTrue(diff <= LoraCurveParityTest.LOSS_TOLERANCE, "step " + (i + 1) + ": loss differs by " + diff);
    }
    System.out.printf("%s: worst loss difference %.3e%n", name(), worst);
  }

  @Test
  void everyLoggedMetricWithinItsBound() {
    CurveParity.assertMatches(name(), golden, ours);
  }

  @Test
  void finalAdapterMatchesPeft() throws Exception {
    assertAdapterMatches(name(), PeftAdapter.read(out),
        PeftAdapter.read(LoraCurveParityTest.GOLDEN.resolve(name() + "-final")));
  }

  /**
   * {@code mine} has {@code theirs}'s configuration and tensors, each within {@link
   * LoraCurveParityTest#ADAPTER_TOLERANCE} relative L2 of PEFT's; prints the worst.
   */
  static void assertAdapterMatches(String run, PeftAdapter mine, PeftAdapter theirs) {
    assertEquals(theirs.rank(), mine.rank());
    assertEquals(theirs.alpha(), mine.alpha());
    assertEquals(theirs.rslora(), mine.rslora());
    assertEquals(new TreeSet<>(theirs.targets()), new TreeSet<>(mine.targets()));
    assertEquals(new TreeSet<>(theirs.tensors().keySet()), new TreeSet<>(mine.tensors().keySet()));
    double worst = 0;
    String worstName = "";
    for (String name : theirs.tensors().keySet()) {
      float[] a = mine.tensors().get(name);
      float[] b = theirs.tensors().get(name);
      double diff = 0;
      double norm = 0;
      for (int i = 0; i < a.length; i++) {
        diff += (double) (a[i] - b[i]) * (a[i] - b[i]);
        norm += (double) b[i] * b[i];
      }
      double rel = Math.sqrt(diff / norm);
      if (rel > worst) {
        worst = rel;
        worstName = name;
      }
      assertTrue(rel <= LoraCurveParityTest.ADAPTER_TOLERANCE, name + ": relative L2 difference " + rel);
    }
    System.out.printf("%s: final adapter worst per-tensor relative L2 difference %.3e (%s)%n", run, worst,
        worstName);
  }
}
