package dev.tfdpo.report;

import java.util.List;
import java.util.Map;

/**
 * One name per metric across frameworks. This project's {@code metrics.jsonl} keys are the canonical
 * names (TRL's: {@code loss}, {@code grad_norm}, {@code rewards/chosen}, ..., evaluation keys prefixed
 * {@code eval_}); other frameworks' spellings are mapped onto them by {@link #canonical(String)}.
 */
public final class MetricNames {

  /** Metrics this project and TRL log, in the order charts and tables list them. */
  public static final List<String> KNOWN = List.of(
      "loss", "grad_norm", "learning_rate",
      "rewards/chosen", "rewards/rejected", "rewards/accuracies", "rewards/margins",
      "logps/chosen", "logps/rejected", "logits/chosen", "logits/rejected",
      "entropy", "mean_token_accuracy", "num_tokens", "tokens_per_s", "epoch");

  // Megatron / MindSpeed spell metrics with spaces or dashes; "lr" is common in hand-written loops.
  private static final Map<String, String> ALIASES = Map.ofEntries(
      Map.entry("lm loss", "loss"),
      Map.entry("lm_loss", "loss"),
      Map.entry("lm-loss", "loss"),
      Map.entry("grad norm", "grad_norm"),
      Map.entry("grad-norm", "grad_norm"),
      Map.entry("learning rate", "learning_rate"),
      Map.entry("learning-rate", "learning_rate"),
      Map.entry("lr", "learning_rate"));

  private static final String EVAL = "eval_";
  private static final String TEST = "test_";

  private MetricNames() {}

  /**
   * Canonical name of a metric key from any supported source: a {@code train/} prefix is dropped,
   * {@code eval/} and {@code test/} become {@code eval_} and {@code test_}, and the remainder goes through
   * the alias table ({@code lm loss}, {@code grad norm}, {@code learning rate}, {@code lr}, dashed forms).
   * Examples: {@code train/rewards/chosen} → {@code rewards/chosen}, {@code eval/loss} →
   * {@code eval_loss}, {@code lm loss} → {@code loss}, {@code eval_lm loss} → {@code eval_loss}.
   */
  public static String canonical(String raw) {
    String name = raw.trim();
    String prefix = "";
    if (name.startsWith("train/")) {
      name = name.substring("train/".length());
    } else if (name.startsWith("eval/")) {
      prefix = EVAL;
      name = name.substring("eval/".length());
    } else if (name.startsWith("test/")) {
      prefix = TEST;
      name = name.substring("test/".length());
    } else if (name.startsWith(EVAL)) {
      prefix = EVAL;
      name = name.substring(EVAL.length());
    }
    String base = ALIASES.getOrDefault(name, name);
    return prefix + base;
  }

  /**
   * TensorBoard tag of a canonical metric, following Hugging Face's TensorBoard callback so that
   * dashboards line up: {@code eval_loss} → {@code eval/loss}, {@code test_x} → {@code test/x}, every
   * other metric under {@code train/} ({@code loss} → {@code train/loss}).
   */
  public static String tensorBoardTag(String metric) {
    if (metric.startsWith(EVAL)) {
      return "eval/" + metric.substring(EVAL.length());
    }
    if (metric.startsWith(TEST)) {
      return "test/" + metric.substring(TEST.length());
    }
    return "train/" + metric;
  }

  /** A file-name-safe form of a metric name: {@code rewards/chosen} → {@code rewards_chosen}. */
  public static String fileStem(String metric) {
    return metric.replaceAll("[^A-Za-z0-9_.-]", "_");
  }

  /**
   * Recovers a metric name from a file-name stem where {@code /} was flattened to {@code _} (TensorBoard's
   * CSV download names files {@code run-<run>-tag-train_rewards_chosen.csv}): the stem is matched
   * against the known metrics (and their {@code eval_} forms) with the same flattening; an unknown stem
   * is returned through {@link #canonical(String)} unchanged otherwise.
   */
  public static String fromFileStem(String stem) {
    String flat = stem.trim();
    for (String prefix : List.of("", "train_", "eval_")) {
      if (!flat.startsWith(prefix)) {
        continue;
      }
      String rest = flat.substring(prefix.length());
      for (String known : KNOWN) {
        if (fileStem(known).equals(rest)) {
          return prefix.equals("eval_") ? EVAL + known : known;
        }
      }
    }
    return canonical(flat);
  }
}
