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
  void ktoKeysAndLossTypes() throws IOException {
    TrainConfig c = load("--rlhf_type", "kto", "--desirable_weight", "1.3");
    assertEquals(List.of("kto"), c.dpo().lossType());
    assertEquals(1.3, c.dpo().desirableWeight());
    assertEquals(1.0, c.dpo().undesirableWeight());
    assertEquals(false, c.reference().referenceFree(), "KTO reads the reference");
    assertEquals(List.of("apo_zero_unpaired"),
        load("--rlhf_type", "kto", "--loss_type", "apo_zero_unpaired").dpo().lossType());
    ConfigException e = refused("--desirable_weight", "2");
    assertTrue(e.getMessage().contains("'desirable_weight' belongs to the kto trainer, but this run's rlhf_type is"
        + " 'dpo'"), e.getMessage());
    e = refused("--rlhf_type", "kto", "--loss_type", "sigmoid");
    assertTrue(e.getMessage().contains("[kto, apo_zero_unpaired]"), e.getMessage());
    e = refused("--rlhf_type", "kto", "--reference_free", "true");
    assertTrue(e.getMessage().contains("'reference_free' belongs to the dpo trainer"), e.getMessage());
    e = refused("--rlhf_type", "kto", "--undesirable_weight", "0");
    assertTrue(e.getMessage().contains("undesirable_weight"), e.getMessage());
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
    for (String trainer : List.of("dpo", "kto", "cpo", "orpo", "simpo")) {
      TrainConfig c = load("--rlhf_type", trainer);
      Path saved = dir.resolve(trainer + ".json");
      c.save(saved);
      assertEquals(c, TrainConfig.load(saved, List.of()), trainer);
    }
  }
}
