package dev.tfdpo.report;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class MetricNamesTest {

  @ParameterizedTest(name = "{0} -> {1}")
  @CsvSource(delimiter = '|', value = {
      "loss|loss",
      "lm loss|loss",
      "lm-loss|loss",
      "grad norm|grad_norm",
      "grad-norm|grad_norm",
      "learning rate|learning_rate",
      "learning-rate|learning_rate",
      "lr|learning_rate",
      "train/loss|loss",
      "train/grad_norm|grad_norm",
      "train/learning_rate|learning_rate",
      "train/lr|learning_rate",
      "train/rewards/chosen|rewards/chosen",
      "eval/loss|eval_loss",
      "eval/rewards/accuracies|eval_rewards/accuracies",
      "eval_loss|eval_loss",
      "eval_lm loss|eval_loss",
      "test/loss|test_loss",
      "' rewards/margins '|rewards/margins",
      "entropy|entropy"})
  void canonicalNames(String raw, String canonical) {
    assertEquals(canonical, MetricNames.canonical(raw));
  }

  @ParameterizedTest(name = "{0} -> {1}")
  @CsvSource(delimiter = '|', value = {
      "loss|train/loss",
      "rewards/chosen|train/rewards/chosen",
      "eval_loss|eval/loss",
      "eval_rewards/accuracies|eval/rewards/accuracies",
      "test_loss|test/loss"})
  void tensorBoardTags(String metric, String tag) {
    assertEquals(tag, MetricNames.tensorBoardTag(metric));
    assertEquals(metric, MetricNames.canonical(tag), "tags map back to the metric");
  }

  @ParameterizedTest(name = "{0} -> {1}")
  @CsvSource(delimiter = '|', value = {
      "loss|loss",
      "train_loss|loss",
      "train_rewards_chosen|rewards/chosen",
      "rewards_margins|rewards/margins",
      "eval_loss|eval_loss",
      "eval_rewards_accuracies|eval_rewards/accuracies",
      "grad_norm|grad_norm",
      "lm loss|loss"})
  void fileStems(String stem, String metric) {
    assertEquals(metric, MetricNames.fromFileStem(stem));
  }
}
