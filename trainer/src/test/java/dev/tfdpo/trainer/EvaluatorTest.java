package dev.tfdpo.trainer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import dev.tfdpo.data.ListPairSource;
import dev.tfdpo.data.TokenIdsJsonl;
import dev.tfdpo.data.TokenizedPair;
import dev.tfdpo.graphs.training.Batch;
import dev.tfdpo.graphs.training.DpoGraph;
import dev.tfdpo.io.hf.LlamaConfig;
import dev.tfdpo.io.safetensors.SafeTensorsReader;
import dev.tfdpo.ops.AdamW;
import dev.tfdpo.ops.LossSpec;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * {@link DpoGraph#evaluate} and {@link Evaluator} on the golden run's token ids: forward only and
 * stateless, the same numbers as a training micro-batch, and TRL / Hugging Face's averaging over the
 * dev batches derived by hand from the per-sequence log-probs.
 */
class EvaluatorTest {

  static final float BETA = 0.1f;
  static final double LN2 = Math.log(2);

  static DpoGraph graph;
  static List<TokenizedPair> pairs;
  static Collator collator = new Collator(2);

  @BeforeAll
  static void build() throws Exception {
    pairs = TokenIdsJsonl.read(Golden.TOKENS).subList(0, 6);
    graph = DpoGraph.build(new DpoGraph.Settings(
        LlamaConfig.read(Golden.TINY), LossSpec.builder("sigmoid").beta(BETA).build(),
        new AdamW.Hyper(0.9f, 0.999f, 1e-8f), 1.0, 2));
  }

  @AfterAll
  static void close() {
    graph.close();
  }

  static void loadPolicy(String dir) throws Exception {
    try (SafeTensorsReader ref = SafeTensorsReader.open(Golden.TINY)) {
      graph.referenceLoader().load(graph.session(), ref);
    }
    try (SafeTensorsReader pol = SafeTensorsReader.open(dir == null ? Golden.TINY : Golden.resolveShared(dir))) {
      graph.policyLoader().load(graph.session(), pol);
    }
  }

  static Evaluator evaluator(int batchSize) {
    return new Evaluator(graph, new ListPairSource(pairs), collator, batchSize, "steps", 1);
  }

  @Test
  void initialModelHasZeroRewardsAndLossLn2() throws Exception {
    loadPolicy(null);
    Map<String, Double> m = evaluator(4).evaluate();
    assertEquals(LN2, m.get("eval_loss"), 1e-7);
    assertEquals(0.0, m.get("eval_rewards/chosen"), 0.0);
    assertEquals(0.0, m.get("eval_rewards/rejected"), 0.0);
    assertEquals(0.0, m.get("eval_rewards/margins"), 0.0);
    // Strict comparison, as TRL: equal rewards are not wins.
    assertEquals(0.0, m.get("eval_rewards/accuracies"), 0.0);
    assertEquals(LN2, m.get("eval_sigmoid_loss"), 1e-7);
    List<String> expected = new ArrayList<>();
    for (String name : graph.metricNames()) {
      expected.add("eval_" + name);
    }
    assertEquals(expected, new ArrayList<>(m.keySet()));
  }

  @Test
  void evaluationEqualsTheTrainingMicroBatchAndChangesNothing() throws Exception {
    loadPolicy("golden/policies/tiny-llama-a-mid2");
    Batch batch = collator.padded(pairs.subList(0, 4));
    Batch other = collator.padded(pairs.subList(4, 6));
    // Fill the accumulators first, so "unchanged" is checked on non-zero state.
    graph.micro(other, 0.5f);
    Map<String, float[]> weightsBefore = graph.policyWeights();
    Map<String, float[]> accumBefore = graph.accumulatedGradients();

    DpoGraph.MicroResult eval = graph.evaluate(batch);

    Map<String, float[]> weightsAfter = graph.policyWeights();
    Map<String, float[]> accumAfter = graph.accumulatedGradients();
    for (String name : weightsBefore.keySet()) {
      assertArrayEquals(weightsBefore.get(name), weightsAfter.get(name), 0f, "weight " + name);
      assertArrayEquals(accumBefore.get(name), accumAfter.get(name), 0f, "accumulator " + name);
    }
    assertTrue(accumBefore.values().stream().anyMatch(g -> Golden.l2(g) > 0), "accumulators were non-zero");

    // The same batch through the training path, before any update: identical metrics and log-probs.
    DpoGraph.MicroResult train = graph.micro(batch, 0.5f);
    assertArrayEquals(train.metrics(), eval.metrics(), 0f);
    assertArrayEquals(train.policyLogps(), eval.policyLogps(), 0f);
    assertArrayEquals(train.referenceLogps(), eval.referenceLogps(), 0f);
    assertTrue(Math.abs(eval.metric("rewards/margins")) > 1e-3, "mid2 policy differs from the reference");

    // After an optimizer step the evaluation sees the new weights.
    graph.apply(AdamW.stepScalars(5e-4, 0.0, new AdamW.Hyper(0.9f, 0.999f, 1e-8f), 1));
    assertFalse(graph.evaluate(batch).metric("loss") == eval.metric("loss"));
  }

  @Test
  void averagingFollowsHuggingFaceAndTrl() throws Exception {
    loadPolicy("golden/policies/tiny-llama-a-mid2");
    // 6 pairs in batches of 4: one full batch and one of 2, so the two averagings differ.
    Map<String, Double> m = evaluator(4).evaluate();
    double[] lossSum = new double[2];
    double[] chosenReward = new double[2];
    double[] rejectedReward = new double[2];
    double[] wins = new double[2];
    double[] chosenLogps = new double[2];
    int[] n = new int[2];
    double pairLossSum = 0;
    for (int b = 0; b < 2; b++) {
      List<TokenizedPair> group = pairs.subList(4 * b, Math.min(4 * b + 4, 6));
      DpoGraph.MicroResult r = graph.evaluate(collator.padded(group));
      int p = group.size();
      n[b] = p;
      for (int i = 0; i < p; i++) {
        double dc = r.policyLogps()[i] - r.referenceLogps()[i];
        double dr = r.policyLogps()[p + i] - r.referenceLogps()[p + i];
        double z = BETA * (dc - dr);
        double loss = Math.log1p(Math.exp(-z)); // -log sigmoid(z)
        lossSum[b] += loss;
        pairLossSum += loss;
        chosenReward[b] += BETA * dc;
        rejectedReward[b] += BETA * dr;
        wins[b] += BETA * dc > BETA * dr ? 1 : 0;
        chosenLogps[b] += r.policyLogps()[i];
      }
    }
    // eval_loss: transformers repeats each batch loss once per pair: the mean over all pairs.
    assertClose(pairLossSum / 6, m.get("eval_loss"), "eval_loss");
    assertClose((lossSum[0] / 4 * 4 + lossSum[1] / 2 * 2) / 6, m.get("eval_loss"), "eval_loss");
    // Everything else: TRL's mean of the per-batch means.
    assertClose((chosenReward[0] / n[0] + chosenReward[1] / n[1]) / 2, m.get("eval_rewards/chosen"), "chosen");
    assertClose((rejectedReward[0] / n[0] + rejectedReward[1] / n[1]) / 2, m.get("eval_rewards/rejected"), "rej");
    assertClose((wins[0] / n[0] + wins[1] / n[1]) / 2, m.get("eval_rewards/accuracies"), "accuracies");
    assertClose((chosenLogps[0] / n[0] + chosenLogps[1] / n[1]) / 2, m.get("eval_logps/chosen"), "logps");
    assertClose((lossSum[0] / n[0] + lossSum[1] / n[1]) / 2, m.get("eval_sigmoid_loss"), "sigmoid_loss");
    // The two averagings really differ here, so the test tells them apart.
    assertTrue(Math.abs((lossSum[0] / 4 + lossSum[1] / 2) / 2 - pairLossSum / 6) > 1e-4);
    System.out.printf("eval (6 pairs, mid2 policy): loss %.6f, rewards/margins %.6f, accuracies %.3f%n",
        m.get("eval_loss"), m.get("eval_rewards/margins"), m.get("eval_rewards/accuracies"));
  }

  @Test
  void intervalIsHuggingFaces() {
    assertEquals(5, Evaluator.interval(0, 5, 100));
    assertEquals(7, Evaluator.interval(7, 5, 100));
    assertEquals(25, Evaluator.interval(0.25, 5, 100));
    assertEquals(34, Evaluator.interval(0.333, 5, 101));
  }

  static void assertClose(double expected, double actual, String what) {
    assertEquals(expected, actual, 2e-6 * Math.max(1, Math.abs(expected)), what);
  }
}
