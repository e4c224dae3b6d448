package dev.tfdpo.trainer;

import dev.tfdpo.data.DataSummary;
import dev.tfdpo.graphs.training.MicroBatch;
import dev.tfdpo.graphs.training.TrainingGraph;
import dev.tfdpo.io.safetensors.SafeTensorsReader;
import dev.tfdpo.graphs.training.Replication;
import dev.tfdpo.ops.AdamW;
import dev.tfdpo.ops.Precision;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * The trainer side of the objective seam: what {@link DpoTrainer}'s one loop (sampling, accumulation,
 * schedule, clipping, logging, evaluation, checkpoints, resume, non-finite guard, export) asks of the
 * thing being trained, so that the loop knows nothing about pairs, DPO, reward heads or any other
 * objective.
 *
 * <p>An objective supplies its data as {@link Examples} (a size and micro-batches built from data-set
 * positions, in its own layout {@code B}), builds its {@link TrainingGraph} (which the loop drives),
 * loads the starting weights into it, names the metric the console shows next to the loss, and writes
 * its model in its own format (a causal LM, or a sequence-classification directory for a reward model).
 * {@link TrainingObjectives#forConfig} picks one from {@code rlhf_type}.
 *
 * <p>Use, in the loop's order: {@link #load} (read-only, before output_dir is claimed), {@link #train}
 * and {@link #dev}, {@link #prepareReference} before the training graph is built, {@link #build} once,
 * {@link #loadWeights}, then per micro-batch {@link #fedReference}, per step {@link #afterStep}, and
 * {@link #writeModel} / {@link #writeCheckpointModel} for outputs.
 *
 * @param <B> the micro-batch layout of its graph
 */
public interface TrainingObjective<B extends MicroBatch> {

  /** The trainer's name, as {@code rlhf_type} spells it ({@code dpo}, {@code cpo}, {@code rm}, ...). */
  String name();

  /** What one example is called in log lines: {@code pairs}, {@code rows}. */
  String unit();

  /**
   * Loads the training set (and the dev set when the config evaluates), prints their summaries, and
   * checks their token ids against the model. Writes nothing.
   */
  void load(PrintStream out) throws IOException;

  /** The training examples ({@link #load} first). */
  Examples<B> train();

  /** The dev examples, or null when the run does not evaluate. */
  Examples<B> dev();

  /** The training set's data summary (written to {@code data_summary.json}); null when it keeps none. */
  DataSummary trainSummary();

  /** The dev set's data summary, or null without a dev set (or without summaries). */
  DataSummary devSummary();

  /** The metric the console prints next to the loss. */
  String headlineMetric();

  /** Its short name on the console. */
  default String headlineLabel() {
    return "acc";
  }

  /** The model directories whose weight files the run reads (checked before anything is written). */
  List<Path> weightDirs();

  /**
   * Before the training graph exists: prints what the run uses as its reference, and runs (or reuses)
   * the reference precompute pass when the reference is precomputed; for an objective without a
   * reference, says so or does nothing.
   */
  void prepareReference(int threads, Precision compute, PrintStream out) throws IOException;

  /**
   * Builds the training graph, once per run; the objective keeps it for {@link #loadWeights}, {@link
   * #afterStep} and the writes, the caller closes it.
   *
   * @param adam AdamW's betas and epsilon
   * @param replication the replicas the loop shards each micro-batch across (one unless {@code devices}
   *     or a cluster says otherwise)
   */
  TrainingGraph<B> build(AdamW.Hyper adam, Replication replication);

  /** Loads the starting weights ({@code weights}: the model directory's) and prints what the graph holds. */
  void loadWeights(SafeTensorsReader weights, PrintStream out) throws IOException;

  /** The batch's fed reference log-probs when the reference was precomputed; null otherwise. */
  default float[] fedReference(B batch) {
    return null;
  }

  /** After optimizer step {@code step} (1-based) was applied (a synced reference follows the policy). */
  default void afterStep(long step) {}

  /**
   * Writes the trained model as a Hugging Face directory into {@code dir}.
   *
   * @param metadata extra safetensors metadata (the run id)
   * @return the files written, the weights file last
   */
  List<Path> writeModel(Path dir, Map<String, String> metadata) throws IOException;

  /** The model part of a checkpoint: {@link #writeModel} plus whatever export needs besides. */
  default void writeCheckpointModel(Path dir, Map<String, String> metadata) throws IOException {
    writeModel(dir, metadata);
  }

  /** The model's files besides the weights, for the closing line ("config.json and tokenizer files"). */
  String modelFiles();

  /** A data set as the loop sees it: a size, and micro-batches built from data-set positions. */
  interface Examples<B> {

    /** Number of examples. */
    int size();

    /** The micro-batch of the examples at {@code positions}, in that order. */
    B batch(int[] positions);

    /**
     * What the loop reads of that micro-batch (its counts, rows and origin) without laying it out, for a
     * shard that its own task lays out ({@link TrainingGraph#laysOutItself}); by default laid out all the same.
     */
    default B header(int[] positions) {
      return batch(positions);
    }

    /** Replica {@code k}'s shard at {@code positions}: a header for a task that lays it out itself, else laid out. */
    default B shard(TrainingGraph<?> graph, int k, int[] positions) {
      return graph.laysOutItself(k) ? header(positions) : batch(positions);
    }
  }
}
