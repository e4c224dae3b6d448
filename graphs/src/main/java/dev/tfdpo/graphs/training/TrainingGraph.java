package dev.tfdpo.graphs.training;

import java.nio.file.Path;
import java.util.List;

/**
 * What the one training loop ({@code DpoTrainer}) calls on a training graph, whichever model and
 * objective it was built for: {@link DpoGraph} (a causal LM and a log-prob objective) and {@link
 * RewardGraph} (a backbone with a scalar head). Weights are loaded and written by the objective that
 * built the graph, which knows their format; everything per step goes through here.
 *
 * <p>A step: {@link #micro} once per micro-batch (gradients accumulate), then {@link #gradientNorm}, and,
 * when that is finite, {@link #apply}; a step of one micro-batch may instead be one {@link #step} call.
 *
 * @param <B> the micro-batch layout the graph is fed
 */
public interface TrainingGraph<B extends MicroBatch> extends AutoCloseable {

  /** One micro-batch's metrics, in {@link #metricNames()} order; NaN for a metric the batch lacks. */
  interface Micro {

    /** The values. */
    float[] metrics();

    /** The names of {@link #metrics()}, in order. */
    List<String> names();

    /** A metric by its name; unknown names are an error. */
    default float metric(String name) {
      int k = names().indexOf(name);
      if (k < 0) {
        throw new IllegalArgumentException("no metric '" + name + "'; have " + names());
      }
      return metrics()[k];
    }
  }

  /**
   * What {@link #step} returns.
   *
   * @param micro the micro-batch's metrics
   * @param norm the gradient's norms before clipping
   */
  record Step(Micro micro, DpoGraph.GradientNorm norm) {}

  /** The metric names of {@link Micro#metrics()}, "loss" first. */
  List<String> metricNames();

  /**
   * Forward and backward on one global micro-batch, one shard per replica; adds {@code gradient * scale}
   * to the accumulators.
   *
   * @param referenceLogps fed reference log-probs per shard, or null when the graph computes or needs none
   */
  Micro micro(List<B> shards, float scale, List<float[]> referenceLogps);

  /**
   * A whole optimizer step on one global micro-batch (weight 1): the gradient, its norms and the update,
   * which is applied only when the loss and every gradient norm are finite; otherwise no weight or
   * optimizer state changes. Here: {@link #micro}, {@link #gradientNorm}, then {@link #apply} when finite
   * (the accumulators then still hold the step's gradient); a graph may do it all in one run.
   */
  default Step step(List<B> shards, List<float[]> referenceLogps, float[] optimizerScalars) {
    Micro micro = micro(shards, 1f, referenceLogps);
    DpoGraph.GradientNorm norm = gradientNorm();
    if (Float.isFinite(micro.metric("loss")) && norm.firstNonFinite() == null) {
      apply(optimizerScalars, norm.total());
    }
    return new Step(micro, norm);
  }

  /** Forward only (evaluation) on one global batch, one shard per replica: the metrics, no state change. */
  Micro evaluate(List<B> shards);

  /** The accumulated gradient's global and per-parameter norms (changes nothing). */
  DpoGraph.GradientNorm gradientNorm();

  /** Clips with {@code norm} (from {@link #gradientNorm}), applies AdamW and clears the accumulators. */
  void apply(float[] optimizerScalars, float norm);

  /**
   * Traces the session runs of the following training steps into {@code trace} (TensorFlow's FULL_TRACE,
   * the {@code profile_step} key); null stops tracing. Evaluation runs are not traced.
   */
  void trace(StepTrace trace);

  /**
   * After the weights are loaded: fills what replicas keep of them on their own devices (copies of
   * frozen weights on the tasks of a gRPC cluster). Graphs without such copies have nothing to do.
   */
  default void weightsLoaded() {}

  /** Data-parallel replicas: shards per micro-batch. */
  int replicas();

  /**
   * Whether replica {@code k}'s task lays its shards out itself from its own copy of the data (a task of a
   * gRPC cluster, {@link BatchQueue}): the loop then gives it a {@linkplain Batch#header header} only.
   */
  default boolean laysOutItself(int k) {
    return false;
  }

  /** Compiled XLA cluster launches per micro-batch (0 without XLA). */
  int xlaClusters();

  /** Bytes held by the graph's variables. */
  long variableBytes();

  /** Writes the trainable weights and the optimizer's state as a TensorFlow checkpoint (between steps). */
  void saveState(Path prefix);

  /** Restores what {@link #saveState} wrote. */
  void restoreState(Path prefix);

  @Override
  void close();
}
