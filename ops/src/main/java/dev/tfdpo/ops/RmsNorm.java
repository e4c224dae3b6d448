package dev.tfdpo.ops;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.tensorflow.ExecutionEnvironment;
import org.tensorflow.GraphOperation;
import org.tensorflow.Operand;
import org.tensorflow.Output;
import org.tensorflow.op.Ops;
import org.tensorflow.op.linalg.MatMul;
import org.tensorflow.op.math.Mean;
import org.tensorflow.types.TBfloat16;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt32;
import org.tensorflow.types.family.TNumber;

/**
 * RMSNorm, and the float32 projections that read its output, with a backward pass that keeps only the
 * norm's input {@code x} and its {@code [..., 1]} inverse RMS.
 *
 * <p>Differentiated as written, {@code w * (x * r)} keeps two {@code [..., H]} tensors besides {@code x}
 * from the forward to the backward pass: {@code x * r} (its product with {@code w}'s gradient reads it) and
 * the output (each projection's weight gradient reads it): four per decoder layer. Here the scaling is a
 * lean operation ({@link LeanGradients}) and so is each projection of its output ({@link #project}): their
 * gradients rebuild {@code x * r} and {@code w * (x * r)} from {@code x} and {@code r} once the backward
 * pass reaches them (once per norm, shared by its projections) and apply exactly TensorFlow's own
 * gradient operations to them ({@code Mul}'s two products reduced over the broadcast axes, {@code MatMul}'s
 * two products). The rebuilt tensors are bitwise the forward's (the same operations on the same values).
 * In bfloat16 the projections share one cast of the output in the forward pass and cast the rebuilt
 * output again in the backward pass ({@link Bf16Projection}). The output stays alive when something else
 * reads it (a LoRA adapter): nothing is saved then, and nothing changes.
 */
public final class RmsNorm {

  /** The mark of the scaling {@code w * (x * r)}. */
  static final String SCALE = "rms_norm";

  /** The mark of a projection of a lean norm's output. */
  static final String PROJECTION = "normed_projection";

  /** The mark of a bfloat16 projection of a lean norm's output ({@link Bf16Projection}). */
  static final String PROJECTION_BF16 = "normed_projection_bf16";

  /**
   * The rebuilt {@code x * r} and {@code w * (x * r)} of each norm, made once per graph. (A gradient
   * function cannot look operations up by name: TensorFlow holds the graph's lock while it calls one.)
   */
  private static final Map<GraphKey, Rebuilt> REBUILT = leastRecentlyUsed();

  /**
   * Each norm output's bfloat16 cast: in the forward pass the norm's projections share one (built per
   * projection, q, k and v cast the same tensor three times); in the backward pass, the rebuilt output's.
   */
  private static final Map<GraphKey, Operand<TBfloat16>> HALVES = leastRecentlyUsed();

  /** An operation or tensor, by name, in its graph. */
  private record GraphKey(ExecutionEnvironment graph, String name) {}

  /**
   * A bounded map, least recently used first out: the keys hold their graphs, and a dropped entry only
   * means a later call builds its value again.
   */
  private static <V> Map<GraphKey, V> leastRecentlyUsed() {
    return Collections.synchronizedMap(new LinkedHashMap<>(64, 0.75f, true) {
      @Override
      protected boolean removeEldestEntry(Map.Entry<GraphKey, V> eldest) {
        return size() > 4096;
      }
    });
  }

  static {
    LeanGradients.rule(SCALE, RmsNorm::scaleGradient);
    LeanGradients.rule(PROJECTION, (tf, op, grads) -> projectionGradient(tf, op, grads, Precision.FLOAT32));
    LeanGradients.rule(PROJECTION_BF16, (tf, op, grads) -> projectionGradient(tf, op, grads, Precision.BFLOAT16));
  }

  private RmsNorm() {}

  /**
   * {@code w * (x * rsqrt(mean(x^2, -1) + eps))}, the order transformers' LlamaRMSNorm uses.
   *
   * @param x {@code [..., H]}
   * @param weight {@code [H]}, float32 or a bfloat16-stored frozen weight (computed in float32)
   */
  public static Operand<TFloat32> apply(Ops tf, Operand<TFloat32> x, Operand<? extends TNumber> weight, float eps) {
    Operand<TFloat32> squares = LeanGradients.square(tf, x); // [..., H], its gradient's 2 * x made late
    Operand<TFloat32> variance = tf.math.mean(squares, tf.constant(-1), Mean.keepDims(true)); // [..., 1]
    Operand<TFloat32> inverseRms = tf.math.rsqrt(tf.math.add(variance, tf.constant(eps))); // [..., 1]
    Operand<TFloat32> w = Precision.float32(tf, weight); // [H]
    Operand<TFloat32> scaled = tf.math.mul(w, tf.math.mul(x, inverseRms)); // [..., H]
    return LeanGradients.active() ? LeanGradients.marked(tf, SCALE, scaled, List.of(x, inverseRms, w)) : scaled;
  }

  /** Whether {@code y} is a lean norm's output, whose projections {@link #project} can rebuild it. */
  static boolean isLean(Operand<?> y) {
    return y.op().type().equals("IdentityN") && y.asOutput().index() == 0
        && LeanGradients.markOf(y.op().name()).equals(SCALE);
  }

  /**
   * {@code y @ weight^T} for a lean norm's output {@code y} ({@link #isLean}) in {@code precision}, whose
   * weight gradient reads {@code y} rebuilt in the backward pass (in bfloat16: cast again there, and the
   * weight too, {@link Bf16Projection}); the result is float32.
   *
   * @param y {@code [N, in]}
   * @param weight {@code [out, in]}, float32
   * @return {@code [N, out]}
   */
  static Operand<TFloat32> project(Ops tf, Operand<TFloat32> y, Operand<TFloat32> weight, Precision precision) {
    if (precision == Precision.FLOAT32) {
      Operand<TFloat32> product = tf.linalg.matMul(y, weight, MatMul.transposeB(true)); // [N, out]
      return LeanGradients.marked(tf, PROJECTION, product, List.of(y, weight));
    }
    Operand<TBfloat16> yHalf = sharedHalf(tf, y); // [N, in]
    Operand<TFloat32> product = Precision.BFLOAT16.matMul(tf, yHalf, weight, true); // [N, out]
    return LeanGradients.marked(tf, PROJECTION_BF16, product, List.of(y, weight));
  }

  /** {@code y}'s bfloat16 cast, one per tensor and graph. */
  private static Operand<TBfloat16> sharedHalf(Ops tf, Operand<TFloat32> y) {
    return HALVES.computeIfAbsent(new GraphKey(y.op().env(), y.op().name() + ":" + y.asOutput().index()),
        key -> Bf16Projection.half(tf, y));
  }

  /** A norm's forward tensors rebuilt in the backward pass. */
  private record Rebuilt(Operand<TFloat32> normed, Operand<TFloat32> scaled) {}

  /**
   * The norm's {@code x * r} and {@code w * (x * r)}, built once per norm and graph, reading {@code x} only
   * once {@code signal} (a gradient arriving at the norm or one of its projections) exists.
   */
  @SuppressWarnings("unchecked")
  private static Rebuilt rebuilt(Ops tf, GraphOperation norm, Operand<?> signal) {
    return REBUILT.computeIfAbsent(new GraphKey(norm.env(), norm.name()), key -> {
      Operand<TFloat32> x = LeanGradients.after(tf, (Operand<TFloat32>) norm.input(1), signal); // [..., H]
      Operand<TFloat32> normed = tf.math.mul(x, (Operand<TFloat32>) norm.input(2)); // [..., H]
      Operand<TFloat32> scaled = tf.math.mul((Operand<TFloat32>) norm.input(3), normed); // [..., H]
      return new Rebuilt(normed, scaled);
    });
  }

  /** TensorFlow's {@code Mul} gradient of {@code a * b}: each product reduced over its broadcast axes. */
  private record MulGradient(Operand<TFloat32> da, Operand<TFloat32> db) {
    static MulGradient of(Ops tf, Operand<TFloat32> a, Operand<TFloat32> b, Operand<TFloat32> grad) {
      Operand<TInt32> shapeA = tf.shape(a);
      Operand<TInt32> shapeB = tf.shape(b);
      var axes = tf.broadcastGradientArgs(shapeA, shapeB);
      Operand<TFloat32> da = tf.reshape(tf.sum(tf.math.mul(grad, b), axes.r0()), shapeA);
      Operand<TFloat32> db = tf.reshape(tf.sum(tf.math.mul(a, grad), axes.r1()), shapeB);
      return new MulGradient(da, db);
    }
  }

  /** {@code w * (x * r)}: TensorFlow's two {@code Mul} gradients, with {@code x * r} rebuilt. */
  @SuppressWarnings("unchecked")
  private static List<Operand<?>> scaleGradient(Ops tf, GraphOperation op, List<Output<?>> grads) {
    Operand<TFloat32> dScaled = (Operand<TFloat32>) grads.get(0); // [..., H]
    Operand<TFloat32> x = (Operand<TFloat32>) op.input(1); // [..., H]
    Operand<TFloat32> inverseRms = (Operand<TFloat32>) op.input(2); // [..., 1]
    Operand<TFloat32> w = (Operand<TFloat32>) op.input(3); // [H]
    Operand<TFloat32> normed = rebuilt(tf, op, dScaled).normed(); // [..., H]
    MulGradient byWeight = MulGradient.of(tf, w, normed, dScaled);
    MulGradient byInverseRms = MulGradient.of(tf, x, inverseRms, byWeight.db());
    return List.of(dScaled, byInverseRms.da(), byInverseRms.db(), byWeight.da());
  }

  /**
   * TensorFlow's gradients of the product: in float32 {@code MatMul}'s ({@code dy = g @ W}, {@code dW =
   * g^T @ y}); in bfloat16 those of {@code Cast(MatMul(Cast(y), Cast(W)^T))} ({@link
   * Bf16Projection.Gradients}), the input's back to float32 (its cast's gradient). {@code y} rebuilt (and
   * cast) once per norm.
   */
  @SuppressWarnings("unchecked")
  private static List<Operand<?>> projectionGradient(Ops tf, GraphOperation op, List<Output<?>> grads,
      Precision precision) {
    Operand<TFloat32> dOut = (Operand<TFloat32>) grads.get(0); // [N, out]
    Operand<TFloat32> weight = (Operand<TFloat32>) op.input(2); // [out, in]
    Operand<TFloat32> y = rebuilt(tf, (GraphOperation) op.input(1).op(), dOut).scaled(); // [N, in]
    if (precision == Precision.FLOAT32) {
      Operand<TFloat32> dIn = LeanGradients.productInputGradient(tf, dOut, weight); // [N, in]
      return List.of(dOut, dIn, LeanGradients.productWeightGradient(tf, dOut, y));
    }
    Bf16Projection.Gradients g = Bf16Projection.Gradients.of(tf, dOut, weight);
    return List.of(dOut, Precision.float32(tf, g.input()), g.weight(tf, sharedHalf(tf, y)));
  }
}
