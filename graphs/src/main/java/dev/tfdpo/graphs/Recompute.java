package dev.tfdpo.graphs;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.tensorflow.Operand;
import org.tensorflow.Operation;
import org.tensorflow.Output;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Gradients;
import org.tensorflow.types.TFloat32;

/**
 * Activation recompute (gradient checkpointing) in the static graph: the forward pass is cut into
 * blocks, and the backward pass of a recomputed block rebuilds the block's forward operations from its
 * saved input instead of keeping the activations of the first forward.
 *
 * <p>How: every block reads its inputs through {@code StopGradient}, so no single {@code tf.gradients}
 * call crosses a block boundary; {@link #gradients} then walks the blocks backwards, one gradient call
 * each, carrying the gradient of each boundary tensor by hand. For an ordinary block the call
 * differentiates the forward operations in place (their activations are kept, as without recompute).
 * For a recomputed block it first builds a second copy of the block from {@code Identity(saved input)},
 * every operation of the copy under a control dependency on the gradient arriving at the block's
 * outputs, so the copy runs only when the backward pass reaches it; the gradient is taken through the
 * copy. Nothing in the backward pass reads the first forward's intermediates of that block, so TensorFlow
 * frees them as soon as the forward has used them: what stays alive until the backward pass is each
 * block's input (for {@code full}, one {@code [N, H]} per decoder layer).
 *
 * <p>The copy must not be merged back into the first forward by a graph optimizer: the sessions run
 * with Grappler off and the classic optimizer at L0 (no common-subexpression elimination; {@link
 * Sessions#config}), and XLA auto-clustering is refused with recompute ({@code use_xla}).
 *
 * <p>Each block's gradient call gets exactly the weights the block reads, so no zeros are made for
 * unused ones, and the number of calls is linear in depth.
 */
public final class Recompute {

  /** What one recomputed block spans (PaddleNLP's {@code recompute_granularity}). */
  public enum Granularity {
    /** The whole decoder layer: attention block and MLP block, both residual additions included. */
    FULL,
    /** The attention block: input RMSNorm, projections, rotary embedding, attention core, output projection and residual add. */
    FULL_ATTN,
    /** Only {@code softmax(q k^T + mask) v}, the part whose activations grow with the square of the length. */
    CORE_ATTN;

    /** The configuration spelling ({@code full}, {@code full_attn}, {@code core_attn}). */
    public String configName() {
      return name().toLowerCase(Locale.ROOT);
    }

    /** The granularity spelled {@code name}; anything else is an error naming the accepted values. */
    public static Granularity byName(String name) {
      for (Granularity g : values()) {
        if (g.configName().equals(name)) {
          return g;
        }
      }
      throw new IllegalArgumentException("unknown recompute granularity '" + name
          + "'; use full (whole decoder layer), full_attn (attention block) or core_attn (softmax(QK^T)V only)");
    }
  }

  /** A block's forward: its outputs from its inputs; the weights it reads are captured by the lambda. */
  @FunctionalInterface
  public interface Block {
    /**
     * @param tf where to create the operations (under control dependencies when recomputed)
     * @param inputs the block's inputs, in the order given to {@link #block}
     */
    List<Operand<TFloat32>> apply(Ops tf, List<Operand<TFloat32>> inputs);
  }

  /**
   * One block as recorded in the forward pass.
   *
   * @param inputs the tensors the block's inputs came from (boundary tensors, or none)
   * @param seen what its first forward read: {@code StopGradient} of each input
   * @param outputs its outputs in the first forward
   * @param weights the weight tensors it reads (the gradient's other {@code x}s)
   * @param rebuild its forward, when it is recomputed; null when differentiated in place
   */
  private record Segment(
      List<Operand<TFloat32>> inputs,
      List<Operand<TFloat32>> seen,
      List<Operand<TFloat32>> outputs,
      List<Operand<TFloat32>> weights,
      Block rebuild) {}

  private final Granularity granularity;
  private final List<Segment> segments = new ArrayList<>();
  private Operand<TFloat32> exitInput;
  private Operand<TFloat32> exit;
  private List<Operand<TFloat32>> headWeights;

  /** A tape for one model's forward pass, recomputing blocks of {@code granularity}. */
  public Recompute(Granularity granularity) {
    this.granularity = granularity;
  }

  /** What is recomputed. */
  public Granularity granularity() {
    return granularity;
  }

  /**
   * Adds a block to the forward pass.
   *
   * @param inputs boundary tensors the block reads (outputs of earlier blocks, or none)
   * @param weights every weight tensor the block reads (no other differentiable tensor may enter it)
   * @param recompute whether its backward pass rebuilds it
   * @return its outputs
   */
  public List<Operand<TFloat32>> block(Ops tf, List<Operand<TFloat32>> inputs, List<Operand<TFloat32>> weights,
      boolean recompute, Block forward) {
    if (exit != null) {
      throw new IllegalStateException("a block was added after the tape's exit");
    }
    List<Operand<TFloat32>> seen = new ArrayList<>(inputs.size());
    for (Operand<TFloat32> in : inputs) {
      seen.add(tf.stopGradient(in)); // same shape as in
    }
    List<Operand<TFloat32>> outputs = List.copyOf(forward.apply(tf, seen));
    segments.add(new Segment(List.copyOf(inputs), seen, outputs, List.copyOf(weights), recompute ? forward : null));
    return outputs;
  }

  /** {@link #block} with one input and one output. */
  public Operand<TFloat32> block(Ops tf, Operand<TFloat32> input, List<Operand<TFloat32>> weights,
      boolean recompute, Block forward) {
    List<Operand<TFloat32>> out = block(tf, List.of(input), weights, recompute, forward);
    if (out.size() != 1) {
      throw new IllegalArgumentException("block has " + out.size() + " outputs, expected one");
    }
    return out.get(0);
  }

  /**
   * The tape's last boundary: what the rest of the graph (final norm, head, loss) reads instead of
   * {@code x}, and the weights that rest reads.
   *
   * @return {@code x} behind a {@code StopGradient}, same shape
   */
  public Operand<TFloat32> exit(Ops tf, Operand<TFloat32> x, List<Operand<TFloat32>> weights) {
    if (exit != null) {
      throw new IllegalStateException("the tape already has its exit");
    }
    exitInput = x;
    exit = tf.stopGradient(x); // same shape as x
    headWeights = List.copyOf(weights);
    return exit;
  }

  /**
   * {@code d loss / d params}, block by block from the loss back to the embedding.
   *
   * @param tf where the gradient operations go
   * @param loss a scalar that reads the model only through {@link #exit} and the head weights
   * @param params the tensors to differentiate with respect to (the model's weight reads)
   * @return one gradient per parameter, in {@code params} order
   */
  public List<Operand<TFloat32>> gradients(Ops tf, Operand<TFloat32> loss, List<Operand<TFloat32>> params) {
    if (exit == null) {
      throw new IllegalStateException("the tape has no exit: the forward pass did not finish through it");
    }
    Sums tensorGrads = new Sums();
    Sums weightGrads = new Sums();
    List<Operand<TFloat32>> headXs = new ArrayList<>(headWeights.size() + 1);
    headXs.add(exit);
    headXs.addAll(headWeights);
    Gradients head = tf.gradients(loss, headXs);
    tensorGrads.add(exitInput, head.dy(0));
    for (int k = 0; k < headWeights.size(); k++) {
      weightGrads.add(headWeights.get(k), head.dy(k + 1));
    }
    for (int s = segments.size() - 1; s >= 0; s--) {
      backward(tf, segments.get(s), tensorGrads, weightGrads);
    }
    List<Operand<TFloat32>> out = new ArrayList<>(params.size());
    for (Operand<TFloat32> p : params) {
      Operand<TFloat32> g = weightGrads.sum(tf, p);
      if (g == null) {
        throw new IllegalStateException("no block of the tape reads " + p.op().name());
      }
      out.add(g);
    }
    return out;
  }

  /** One block's gradient call: the gradients of its inputs and weights from those of its outputs. */
  private static void backward(Ops tf, Segment s, Sums tensorGrads, Sums weightGrads) {
    List<Operand<TFloat32>> dOutputs = new ArrayList<>(s.outputs().size());
    for (Operand<TFloat32> o : s.outputs()) {
      Operand<TFloat32> g = tensorGrads.sum(tf, o);
      if (g == null) {
        throw new IllegalStateException("block output " + o.op().name() + " reaches nothing that is differentiated");
      }
      dOutputs.add(g); // same shape as o
    }
    List<Operand<TFloat32>> ys;
    List<Operand<TFloat32>> xs = new ArrayList<>();
    if (s.rebuild() == null) {
      ys = s.outputs();
      xs.addAll(s.seen());
    } else {
      // Every op of the copy waits for the gradient of the block's outputs: nothing of it runs (or holds
      // memory) before the backward pass gets here; the weight concatenations inside included.
      List<Operation> ready = new ArrayList<>(dOutputs.size());
      dOutputs.forEach(g -> ready.add(g.op()));
      Ops later = tf.withControlDependencyOps(ready);
      List<Operand<TFloat32>> again = new ArrayList<>(s.inputs().size());
      s.inputs().forEach(in -> again.add(later.identity(in))); // same shape as in
      ys = List.copyOf(s.rebuild().apply(later, again));
      xs.addAll(again);
    }
    xs.addAll(s.weights());
    if (xs.isEmpty()) {
      return;
    }
    Gradients g = tf.gradients(ys, xs, Gradients.dx(dOutputs));
    for (int i = 0; i < s.inputs().size(); i++) {
      tensorGrads.add(s.inputs().get(i), g.dy(i));
    }
    for (int k = 0; k < s.weights().size(); k++) {
      weightGrads.add(s.weights().get(k), g.dy(s.inputs().size() + k));
    }
  }

  /** Gradient contributions per tensor, summed when read (one {@code AddN} for several). */
  private static final class Sums {
    private final Map<String, List<Operand<TFloat32>>> parts = new LinkedHashMap<>();

    void add(Operand<TFloat32> x, Operand<TFloat32> g) {
      parts.computeIfAbsent(key(x), k -> new ArrayList<>()).add(g);
    }

    /** The summed gradient of {@code x}, or null when nothing contributed. */
    Operand<TFloat32> sum(Ops tf, Operand<TFloat32> x) {
      List<Operand<TFloat32>> p = parts.get(key(x));
      if (p == null) {
        return null;
      }
      return p.size() == 1 ? p.get(0) : tf.math.addN(p); // same shape as x
    }

    private static String key(Operand<TFloat32> x) {
      Output<TFloat32> o = x.asOutput();
      return o.op().name() + ":" + o.index();
    }
  }
}
