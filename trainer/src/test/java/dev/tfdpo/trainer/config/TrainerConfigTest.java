package dev.tfdpo.trainer.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tfdpo.ops.LossSpec;
import dev.tfdpo.ops.PreferenceLoss;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code rlhf_type} (alias {@code stage}): each trainer's defaults as ms-swift's {@code RLHFArguments}
 * sets them, keys of another trainer refused naming it, and resolved configs that load back.
 */
class TrainerConfigTest {

  @TempDir Path dir;

  TrainConfig load(String... overrides) throws IOException {
    Path f = dir.resolve("c.json");
    Files.writeString(f, TrainConfigTest.MINIMAL);
    return TrainConfig.load(f, List.of(overrides));
  }

  ConfigException refused(String... overrides) {
    return assertThrows(ConfigException.class, () -> load(overrides), String.join(" ", overrides));
  }

  static PreferenceLoss onlyLoss(TrainConfig c) {
    List<LossSpec.Component> components = c.lossSpec().components();
    assertEquals(1, components.size(), components.toString());
    return components.get(0).loss();
  }

  @Test
  void dpoIsTheDefaultAndKeepsTheLossTable() throws IOException {
    TrainConfig c = load();
    assertEquals("dpo", c.dpo().rlhfType());
    assertEquals(PreferenceLoss.SIGMOID, onlyLoss(c));
    assertEquals(false, c.reference().referenceFree());
    assertEquals("kto", load("--stage", "kto").dpo().rlhfType(), "MindSpeed's stage is an alias");
  }

  @Test
  void cpoIsReferenceFreeSigmoidWithTheChosenNllAtWeightOne() throws IOException {
    TrainConfig c = load("--rlhf_type", "cpo");
    assertEquals(PreferenceLoss.SIGMOID, onlyLoss(c));
    assertEquals(0.1f, c.lossSpec().beta());
    assertEquals(1f, c.lossSpec().sftLossRatio(), "ms-swift cpo_alpha 1");
    assertEquals(1f, c.lossSpec().prefLossRatio());
    assertTrue(c.reference().referenceFree());
    assertEquals("rlhf_type cpo", c.reference().forcedBy());
    assertEquals(0.5f, load("--rlhf_type", "cpo", "--cpo_alpha", "0.5").lossSpec().sftLossRatio(),
        "cpo_alpha is sft_loss_ratio");
    assertEquals(PreferenceLoss.HINGE, onlyLoss(load("--rlhf_type", "cpo", "--loss_type", "hinge")));
  }

  @Test
  void simpoIsCpoWithTheSimpoLossBeta2Gamma1() throws IOException {
    TrainConfig c = load("--rlhf_type", "simpo");
    assertEquals(PreferenceLoss.SIMPO, onlyLoss(c));
    assertEquals(2f, c.lossSpec().beta());
    assertEquals(1f, c.lossSpec().simpoGamma());
    assertEquals(1f, c.lossSpec().sftLossRatio());
    assertTrue(c.reference().referenceFree());
    assertEquals(0.3f, load("--rlhf_type", "simpo", "--beta", "0.3").lossSpec().beta(), "a given beta wins");
  }

  @Test
  void orpoWeighsTheOddsRatioTermByBeta() throws IOException {
    // TRL's ORPOTrainer: loss = nll - beta * mean(logsigmoid(log_odds)); the table's orpo is
    // -logsigmoid(log_odds), so beta becomes pref_loss_ratio, and the NLL keeps weight 1.
    TrainConfig c = load("--rlhf_type", "orpo");
    assertEquals(PreferenceLoss.ORPO, onlyLoss(c));
    assertEquals(0.1f, c.lossSpec().prefLossRatio());
    assertEquals(1f, c.lossSpec().sftLossRatio());
    assertTrue(c.reference().referenceFree());
    assertEquals(0.25f, load("--rlhf_type", "orpo", "--beta", "0.25").lossSpec().prefLossRatio());
  }

  @Test
  void keysOfAnotherTrainerAreRefusedNamingIt() {
    ConfigException e = refused("--rlhf_type", "cpo", "--precompute_ref_log_probs", "true");
    assertTrue(e.getMessage().contains("'precompute_ref_log_probs' belongs to the dpo / kto trainers"), e.getMessage());
    assertTrue(e.getMessage().contains("rlhf_type is 'cpo'"), e.getMessage());
    e = refused("--rlhf_type", "simpo", "--ref_model_name_or_path", "x");
    assertTrue(e.getMessage().contains("belongs to the dpo / kto trainers"), e.getMessage());
    e = refused("--rlhf_type", "orpo", "--ld_alpha", "0.5");
    assertTrue(e.getMessage().contains("'ld_alpha' belongs to the dpo trainer,"), e.getMessage());
    e = refused("--rlhf_type", "orpo", "--simpo_gamma", "2");
    assertTrue(e.getMessage().contains("'simpo_gamma' belongs to the dpo / cpo / simpo trainers"), e.getMessage());
    e = refused("--rlhf_type", "rm", "--beta", "0.2");
    assertTrue(e.getMessage().contains("'beta' belongs to"), e.getMessage());
  }

  @Test
  void aLossTheTrainerDoesNotTrainIsRefused() {
    ConfigException e = refused("--rlhf_type", "orpo", "--loss_type", "sigmoid");
    assertTrue(e.getMessage().contains("rlhf_type 'orpo'") && e.getMessage().contains("[orpo]"), e.getMessage());
    e = refused("--rlhf_type", "cpo", "--loss_type", "ipo,hinge");
    assertTrue(e.getMessage().contains("[sigmoid, hinge, ipo, simpo]"), e.getMessage());
    e = refused("--rlhf_type", "ppo");
    assertTrue(e.getMessage().contains("'rlhf_type'") && e.getMessage().contains("simpo"), e.getMessage());
  }

  @Test
  void savedConfigsOfEveryTrainerLoadBack() throws IOException {
    for (String trainer : List.of("dpo", "cpo", "orpo", "simpo")) {
      TrainConfig c = load("--rlhf_type", trainer);
      Path saved = dir.resolve(trainer + ".json");
      c.save(saved);
      assertEquals(c, TrainConfig.load(saved, List.of()), trainer);
    }
  }
}
