package dev.tfdpo.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonObject;
import dev.tfdpo.trainer.DpoTrainer;
import dev.tfdpo.trainer.config.ConfigException;
import dev.tfdpo.trainer.config.TrainConfig;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The shipped trainer configs ({@code configs/trainers/*-tiny.json}) through the training loop, two steps
 * of one pair each: CPO, ORPO and SimPO hold no reference (start-up line, variable bytes), and each
 * logged loss is its terms put together by hand.
 */
class TrainersRunTest {

  static final Path ROOT = ReferenceRunTest.ROOT;

  @TempDir static Path tmp;

  static final java.util.concurrent.atomic.AtomicInteger RUNS = new java.util.concurrent.atomic.AtomicInteger();

  /** Float32 sums of a handful of terms of size ~1: a few ulps of 1. */
  static final double SUM_TOLERANCE = 1e-5;

  static ReferenceRunTest.Run train(String trainer, String... overrides) throws Exception {
    Path out = tmp.resolve(trainer + "-" + RUNS.incrementAndGet());
    // One pair per micro-batch and per step, logged every step: each metrics line is one micro-batch,
    // so the relations between its metrics hold exactly (no averaging across pairs).
    List<String> args = new ArrayList<>(List.of("--output_dir", out.toString(), "--report_to", "none",
        "--max_steps", "2", "--per_device_train_batch_size", "1", "--gradient_accumulation_steps", "1",
        "--save_strategy", "no"));
    args.addAll(List.of(overrides));
    ByteArrayOutputStream log = new ByteArrayOutputStream();
    Path config = trainer.equals("dpo") ? ReferenceRunTest.CONFIG
        : ROOT.resolve("configs/trainers/" + trainer + "-tiny.json");
    DpoTrainer.run(TrainConfig.load(config, args), new PrintStream(log, true, StandardCharsets.UTF_8), false);
    return new ReferenceRunTest.Run(log.toString(StandardCharsets.UTF_8), ReferenceRunTest.lines(out), out);
  }

  static double softplus(double x) {
    return Math.log1p(Math.exp(x));
  }

  @Test
  void referenceFreeTrainersHoldNoReference() throws Exception {
    ReferenceRunTest.Run dpo = train("dpo");
    assertTrue(dpo.log().contains("reference: the starting weights of"), dpo.log());
    double withReference = ReferenceRunTest.graphMegabytes(dpo.log());
    for (String trainer : List.of("cpo", "orpo", "simpo")) {
      ReferenceRunTest.Run run = train(trainer);
      assertTrue(run.log().contains("reference: none (rlhf_type " + trainer + " never reads the reference)"),
          run.log());
      assertFalse(run.log().contains("precomputed"), run.log());
      assertTrue(run.log().contains("(policy, Adam m and v)"), run.log());
      // One micro-batch per step: a fused step, no gradient accumulators. Policy, m and v are 3 copies of
      // the weights; the live reference is a fourth.
      double without = ReferenceRunTest.graphMegabytes(run.log());
      assertEquals(withReference * 3 / 4, without, 0.2, trainer + ": " + without + " MB vs " + withReference);
      assertEquals(2, run.lines().size());
    }
  }

  @Test
  void cpoLossIsSigmoidOfTheRawMarginPlusTheChosenNll() throws Exception {
    ReferenceRunTest.Run run = train("cpo");
    for (JsonObject line : run.lines()) {
      // Reference log-probs are 0, so rewards/margins = beta * (logp_c - logp_r) = m, and TRL's CPO
      // sigmoid loss is -log sigmoid(m) = softplus(-m); cpo_alpha 1 adds the chosen NLL (sft_loss).
      double m = line.get("rewards/margins").getAsDouble();
      assertEquals(softplus(-m), line.get("sigmoid_loss").getAsDouble(), SUM_TOLERANCE);
      assertEquals(line.get("sigmoid_loss").getAsDouble() + line.get("sft_loss").getAsDouble(),
          line.get("loss").getAsDouble(), SUM_TOLERANCE);
      // beta 0.1 and no reference: rewards/chosen = 0.1 * logps/chosen.
      assertEquals(0.1 * line.get("logps/chosen").getAsDouble(), line.get("rewards/chosen").getAsDouble(), 1e-5);
    }
  }

  @Test
  void orpoAndSimpoLossesPutTogether() throws Exception {
    for (JsonObject line : train("orpo").lines()) {
      // TRL ORPO: nll + beta * (-logsigmoid(log_odds)), beta 0.1.
      assertEquals(line.get("sft_loss").getAsDouble() + 0.1 * line.get("orpo_loss").getAsDouble(),
          line.get("loss").getAsDouble(), SUM_TOLERANCE);
    }
    for (JsonObject line : train("simpo").lines()) {
      // ms-swift simpo = CPO with loss simpo and cpo_alpha 1: simpo term + NLL.
      assertEquals(line.get("sft_loss").getAsDouble() + line.get("simpo_loss").getAsDouble(),
          line.get("loss").getAsDouble(), SUM_TOLERANCE);
    }
  }

  @Test
  void rewardModelOptionsItCannotHonourAreRefusedBeforeAnythingIsWritten() {
    // rm trains (RewardTrainerTest); XLA is not implemented for its graph.
    Path out = tmp.resolve("refused-rm");
    ConfigException e = assertThrows(ConfigException.class, () -> DpoTrainer.run(
        TrainConfig.load(ROOT.resolve("configs/trainers/cpo-tiny.json"),
            List.of("--output_dir", out.toString(), "--rlhf_type", "rm", "--use_xla", "true")),
        new PrintStream(new ByteArrayOutputStream()), false));
    assertTrue(e.getMessage().contains("use_xla is not implemented for rlhf_type rm"), e.getMessage());
    assertTrue(!java.nio.file.Files.exists(out), "nothing written");
  }
}
