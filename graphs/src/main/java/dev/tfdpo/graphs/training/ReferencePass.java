package dev.tfdpo.graphs.training;

import dev.tfdpo.graphs.GraphScopes;
import dev.tfdpo.graphs.Llama;
import dev.tfdpo.graphs.LoraAdapters;
import dev.tfdpo.graphs.Sessions;
import dev.tfdpo.graphs.Tensors;
import dev.tfdpo.graphs.WeightLoader;
import dev.tfdpo.io.hf.LlamaConfig;
import dev.tfdpo.io.safetensors.SafeTensorsReader;
import dev.tfdpo.ops.CompletionLogProbs;
import dev.tfdpo.ops.Precision;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import org.tensorflow.Graph;
import org.tensorflow.Operand;
import org.tensorflow.Session;
import org.tensorflow.Tensor;
import org.tensorflow.op.Ops;
import org.tensorflow.types.TFloat32;

/**
 * A forward-only graph of the reference model: per-sequence completion log-probs of a batch, LD-weighted
 * as the loss reads them. It has its own graph and session; closing it frees the reference weights.
 *
 * <p>It is built from the same pieces as {@link DpoGraph}'s live reference ({@link BatchInputs#logProbs},
 * {@link CompletionLogProbs.Result#ldWeightedLogps}, {@link Sessions#config}), so on the same
 * batch it gives bitwise the numbers a live reference gives.
 */
public final class ReferencePass implements AutoCloseable {

  private final Graph graph;
  private final Session session;
  private final BatchInputs inputs;
  private final WeightLoader loader;
  private final Operand<TFloat32> logps;
  private final LoraAdapters adapters;

  /** A float32 pass. */
  public ReferencePass(LlamaConfig model, float ldAlpha, int threads) {
    this(model, ldAlpha, threads, Precision.FLOAT32);
  }

  /**
   * @param model the reference architecture
   * @param ldAlpha LD-DPO weight of the tail tokens (1 = plain sums)
   * @param threads as {@code num_threads}
   * @param compute the products' precision: the training run's ({@code bf16}), so the fed values are
   *     what a live reference computing like the policy would give
   */
  public ReferencePass(LlamaConfig model, float ldAlpha, int threads, Precision compute) {
    this(model, ldAlpha, threads, compute, null);
  }

  /**
   * A pass of a LoRA run's reference: the base plus the starting adapter ({@code adapter}, loaded by
   * {@link #loadAdapter}), its products in {@code compute} too; null: the model alone.
   */
  public ReferencePass(LlamaConfig model, float ldAlpha, int threads, Precision compute, LoraAdapters.Spec adapter) {
    this(model, ldAlpha, threads, compute, adapter, CompletionLogProbs.TargetLogit.FROM_LOGITS);
  }

  /**
   * A pass whose log-probs read the target logit as {@code target} says: a LoRA run's, as its training
   * graph does (bitwise the live reference).
   */
  public ReferencePass(LlamaConfig model, float ldAlpha, int threads, Precision compute, LoraAdapters.Spec adapter,
      CompletionLogProbs.TargetLogit target) {
    graph = new Graph();
    Ops tf = GraphScopes.root(graph);
    GraphScopes scopes = GraphScopes.of(tf).reserve(scopeNames());
    inputs = new BatchInputs(tf, target);
    Llama reference = Llama.create(scopes, model, "reference", Precision.FLOAT32, compute);
    loader = WeightLoader.create(scopes, reference);
    adapters = adapter == null ? null : LoraAdapters.create(scopes, model, adapter, "reference_lora");
    CompletionLogProbs.Result ref = inputs.logProbs(scopes.get("reference_forward"), reference,
        adapters == null ? java.util.Map.of() : adapters.byModule()); // [S] each
    logps = ref.ldWeightedLogps(scopes.get("loss"), ldAlpha); // [S]
    session = new Session(graph, Sessions.config(threads));
  }

  /** Every sub-scope of this graph, created while it is empty ({@link GraphScopes}). */
  private static List<String> scopeNames() {
    List<String> names = new ArrayList<>(Llama.scopeNames("reference"));
    names.addAll(List.of("reference_forward", "loss"));
    return names;
  }

  /** Loads the starting adapter of a LoRA run's reference (by adapter name, as {@link LoraAdapters}). */
  public void loadAdapter(java.util.Map<String, float[]> values) {
    adapters.assign(session, values);
  }

  /** Loads the reference weights. */
  public void load(SafeTensorsReader weights) throws IOException {
    loader.load(session, weights);
  }

  /** The batch's reference log-probs {@code [2P]}, in its sequence order (chosen ones first). */
  public float[] run(Batch batch) {
    Session.Runner runner = session.runner();
    List<Tensor> fed = inputs.feed(runner, batch);
    try (var result = runner.fetch(logps).run()) {
      return Tensors.toFloats(result.get(0));
    } finally {
      BatchInputs.close(fed);
    }
  }

  @Override
  public void close() {
    session.close();
    graph.close();
  }
}
