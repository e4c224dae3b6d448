package dev.tfdpo.trainer;

import dev.tfdpo.graphs.training.Batch;
import dev.tfdpo.graphs.training.Objective;
import dev.tfdpo.graphs.training.Replication;
import dev.tfdpo.graphs.training.TrainingGraph;
import dev.tfdpo.io.safetensors.SafeTensorsReader;
import dev.tfdpo.ops.AdamW;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * The part every log-prob objective ({@link PairObjective}, {@link KtoTraining}) shares: its graph, weights,
 * reference feed and written model all come from one {@link PolicyModel}; a subclass supplies its data and
 * its graph part ({@link #graph()}).
 */
abstract class PolicyObjective implements TrainingObjective<Batch> {

  /** The policy, its reference and the training graph built from {@link #graph()}. */
  protected final PolicyModel policy;

  protected PolicyObjective(PolicyModel policy) {
    this.policy = policy;
  }

  /** The graph part: per-sequence log-probs to the loss and metrics. */
  public abstract Objective graph();

  @Override
  public List<Path> weightDirs() {
    return policy.weightDirs();
  }

  @Override
  public TrainingGraph<Batch> build(AdamW.Hyper adam, Replication replication) {
    return policy.build(graph(), adam, replication);
  }

  @Override
  public void loadWeights(SafeTensorsReader weights, PrintStream out) throws IOException {
    policy.loadWeights(weights, out);
  }

  @Override
  public float[] fedReference(Batch batch) {
    return policy.fed(batch);
  }

  @Override
  public void afterStep(long step) {
    policy.afterStep(step);
  }

  @Override
  public List<Path> writeModel(Path dir, Map<String, String> metadata) throws IOException {
    return policy.write(dir, metadata);
  }

  @Override
  public void writeCheckpointModel(Path dir, Map<String, String> metadata) throws IOException {
    policy.writeCheckpoint(dir, metadata);
  }

  @Override
  public String modelFiles() {
    return policy.modelFiles();
  }
}
