package dev.tfdpo.trainer;

import dev.tfdpo.data.DataSummary;
import dev.tfdpo.graphs.training.Batch;
import dev.tfdpo.graphs.training.Objective;
import dev.tfdpo.ops.Precision;
import java.io.IOException;
import java.io.PrintStream;
import java.util.List;

/**
 * The trainer side of the objective seam: what {@link DpoTrainer}'s loop (sampling, accumulation,
 * schedule, logging, evaluation, checkpoints, resume, non-finite guard, export) asks of the thing being
 * trained, so that the loop knows nothing about pairs, DPO or any other objective.
 *
 * <p>An objective supplies its data as {@link Examples} (a size and micro-batches built from data-set
 * positions, in its own batch layout), its graph part ({@link Objective}, built into the training graph),
 * its metric names, the metric the console shows next to the loss, and its reference needs (whether a
 * reference model is read at all, and the precompute pass over its own examples). {@link
 * TrainingObjectives#forConfig} picks one from {@code rlhf_type}.
 *
 * <p>Use, in the loop's order: {@link #load} (read-only, before output_dir is claimed), {@link #train}
 * and {@link #dev}, {@link #prepareReference} before the training graph is built, {@link #graph} for the
 * graph's settings.
 */
public interface TrainingObjective {

  /** The trainer's name, as {@code rlhf_type} spells it ({@code dpo}, {@code cpo}, ...). */
  String name();

  /** What one example is called in log lines: {@code pairs}, {@code rows}. */
  String unit();

  /**
   * Loads the training set (and the dev set when the config evaluates), prints their summaries, and
   * checks their token ids against the model. Writes nothing.
   */
  void load(PrintStream out) throws IOException;

  /** The training examples ({@link #load} first). */
  Examples train();

  /** The dev examples, or null when the run does not evaluate. */
  Examples dev();

  /** The training set's data summary (written to {@code data_summary.json}). */
  DataSummary trainSummary();

  /** The dev set's data summary, or null without a dev set. */
  DataSummary devSummary();

  /** The graph part: log-probs to the loss and the metrics of one micro-batch. */
  Objective graph();

  /** The graph's metric names, in fetch order, "loss" first. */
  default List<String> metricNames() {
    return graph().metricNames();
  }

  /** The metric the console prints next to the loss. */
  String headlineMetric();

  /** Its short name on the console. */
  default String headlineLabel() {
    return "acc";
  }

  /** The reference model this objective reads ({@link ReferenceModel#mode()} NONE when it reads none). */
  ReferenceModel reference();

  /**
   * Before the training graph exists: runs (or reuses) the reference precompute pass over the training
   * examples when the reference is precomputed; nothing otherwise.
   */
  void prepareReference(int threads, Precision compute, PrintStream out) throws IOException;

  /** A data set as the loop sees it: a size, and micro-batches built from data-set positions. */
  interface Examples {

    /** Number of examples. */
    int size();

    /** The micro-batch of the examples at {@code positions}, in that order. */
    Batch batch(int[] positions);
  }
}
