package dev.tfdpo.trainer;

import dev.tfdpo.io.hf.LlamaConfig;
import dev.tfdpo.trainer.config.ConfigException;
import dev.tfdpo.trainer.config.Trainer;
import dev.tfdpo.trainer.config.TrainConfig;
import java.nio.file.Path;

/** Picks the {@link TrainingObjective} of a run from {@code rlhf_type} ({@link Trainer}). */
public final class TrainingObjectives {

  private TrainingObjectives() {}

  /**
   * The objective {@code config} trains.
   *
   * @param modelDir the policy's model directory
   * @param model its config.json
   * @throws ConfigException for a trainer this build does not train
   */
  public static TrainingObjective<?> forConfig(TrainConfig config, Path modelDir, LlamaConfig model) {
    Trainer trainer = Trainer.byName(config.dpo().rlhfType());
    return switch (trainer) {
      // CPO, ORPO and SimPO train pairs like DPO; the config already holds their loss and no reference.
      case DPO, CPO, ORPO, SIMPO -> new PairObjective(trainer.configName(), config, modelDir, model);
      case KTO -> new KtoTraining(config, modelDir, model);
      // A scalar head on a backbone instead of log-probs; the same loop drives its graph.
      case RM -> new RewardObjective(config, modelDir, model);
    };
  }
}
