package dev.tfdpo.ops;

import java.util.List;
import org.tensorflow.GraphOperation;
import org.tensorflow.Operand;
import org.tensorflow.Output;
import org.tensorflow.op.Ops;
import org.tensorflow.types.TBfloat16;
import org.tensorflow.types.TFloat32;

/**
 * SwiGLU's gate, {@code silu(gate) * up}, whose backward pass keeps only {@code gate} and {@code up}, and
 * optionally the down projection after it ({@link #project}), which then keeps nothing more.
 *
 * <p>Differentiated as written ({@code Mul(Mul(g, Sigmoid(g)), u)}), TensorFlow's gradient reads four
 * {@code [N, F]} tensors of the forward pass besides the product: {@code g}, {@code sigmoid(g)},
 * {@code silu(g)} and {@code u}, all alive from the layer's forward to its backward; the down projection's
 * gradient reads the product, a fifth. Here the forward value is a lean operation ({@link LeanGradients})
 * whose gradient rebuilds {@code sigmoid(g)} and {@code silu(g)} (and the product) from {@code g} and
 * {@code u} in the backward pass and applies exactly TensorFlow's own gradient operations to them
 * ({@code Mul}'s two products, {@code SigmoidGrad}, the sum of {@code g}'s two paths, {@code MatMul}'s
 * two products), so the gradients are bitwise those of the plain form. What the forward keeps drops from
 * five {@code [N, F]} tensors per layer to three ({@link #apply}) or two ({@link #project}); the backward
 * pays two (three) element-wise kernels more.
 */
public final class GatedSilu {

  /** The mark of {@link #apply}'s lean operation. */
  static final String MARK = "gated_silu";

  /** The mark of {@link #project}'s lean operation. */
  static final String DOWN = "gated_silu_down";

  /** The mark of {@link #project}'s lean operation in bfloat16. */
  static final String DOWN_BF16 = "gated_silu_down_bf16";

  static {
    LeanGradients.rule(MARK, GatedSilu::gradient);
    LeanGradients.rule(DOWN, (tf, op, grads) -> downGradient(tf, op, grads, Precision.FLOAT32));
    LeanGradients.rule(DOWN_BF16, (tf, op, grads) -> downGradient(tf, op, grads, Precision.BFLOAT16));
  }

  private GatedSilu() {}

  /**
   * {@code silu(gate) * up}, {@code [N, F]}: values bitwise those of {@link Layers#silu} times
   * {@code up}, gradients bitwise those of that form, and a forward pass that leaves only {@code gate}
   * and {@code up} (and the product) for the backward pass.
   */
  public static Operand<TFloat32> apply(Ops tf, Operand<TFloat32> gate, Operand<TFloat32> up) {
    Operand<TFloat32> value = tf.math.mul(Layers.silu(tf, gate), up); // [N, F]
    return LeanGradients.active() ? LeanGradients.marked(tf, MARK, value, List.of(gate, up)) : value; // [N, F]
  }

  /**
   * {@code (silu(gate) * up) @ down^T}, {@code [N, H]}, the product in {@code precision}, the result
   * float32: values and gradients bitwise those of {@link #apply} followed by the product, and a forward
   * pass that leaves only {@code gate} and {@code up} for the backward pass (the product is rebuilt there
   * for the weight's gradient; in bfloat16 cast again, and the weight too, {@link Bf16Projection}).
   *
   * @param down {@code [H, F]}, float32
   */
  public static Operand<TFloat32> project(Ops tf, Operand<TFloat32> gate, Operand<TFloat32> up,
      Operand<TFloat32> down, Precision precision) {
    if (!LeanGradients.active()) {
      return precision.matMul(tf, apply(tf, gate, up), down, true); // [N, H]
    }
    Operand<TFloat32> activated = tf.math.mul(Layers.silu(tf, gate), up); // [N, F]
    Operand<TFloat32> value = precision.matMul(tf, activated, down, true); // [N, H]
    return LeanGradients.marked(tf, precision == Precision.FLOAT32 ? DOWN : DOWN_BF16, value, List.of(gate, up, down)); // [N, H]
  }

  /** Whether the lean gradients are in use in this process (else the plain forms are built). */
  public static boolean active() {
    return LeanGradients.active();
  }

  /** The gradients of {@code silu(g) * u}'s inputs, given the product's gradient {@code dValue}. */
  private record GateGradients(Operand<TFloat32> silu, Operand<TFloat32> dGate, Operand<TFloat32> dUp) {

    /**
     * The forward's {@code sigmoid(g)} and {@code silu(g)} are rebuilt from {@code g} once the backward
     * pass reaches them ({@link LeanGradients#after} the gradient {@code signal}).
     */
    static GateGradients of(Ops tf, Operand<TFloat32> g, Operand<TFloat32> u, Operand<TFloat32> dValue,
        Operand<?> signal) {
      Operand<TFloat32> gLater = LeanGradients.after(tf, g, signal); // [N, F]
      Operand<TFloat32> sigmoid = tf.math.sigmoid(gLater); // [N, F]
      Operand<TFloat32> silu = tf.math.mul(gLater, sigmoid); // [N, F]
      // Mul(silu, u): d silu = dValue * u, d u = silu * dValue.
      Operand<TFloat32> dSilu = tf.math.mul(dValue, u); // [N, F]
      Operand<TFloat32> dUp = tf.math.mul(silu, dValue); // [N, F]
      // Mul(g, sigmoid): d g = dSilu * sigmoid, d sigmoid = g * dSilu; Sigmoid: SigmoidGrad(sigmoid, d sigmoid).
      Operand<TFloat32> dGateDirect = tf.math.mul(dSilu, sigmoid); // [N, F]
      Operand<TFloat32> dGateThroughSigmoid = tf.math.sigmoidGrad(sigmoid, tf.math.mul(g, dSilu)); // [N, F]
      Operand<TFloat32> dGate = tf.math.addN(List.of(dGateDirect, dGateThroughSigmoid)); // [N, F]
      return new GateGradients(silu, dGate, dUp);
    }
  }

  @SuppressWarnings("unchecked")
  private static List<Operand<?>> gradient(Ops tf, GraphOperation op, List<Output<?>> grads) {
    Operand<TFloat32> dValue = (Operand<TFloat32>) grads.get(0); // [N, F]
    Operand<TFloat32> g = (Operand<TFloat32>) op.input(1); // [N, F]
    Operand<TFloat32> u = (Operand<TFloat32>) op.input(2); // [N, F]
    GateGradients gate = GateGradients.of(tf, g, u, dValue, dValue);
    return List.of(dValue, gate.dGate(), gate.dUp());
  }

  /**
   * The product's gradients with {@code a = silu(g) * u} rebuilt, then the gate's gradient. In float32
   * TensorFlow's {@code MatMul} gradient for {@code y = a @ W^T} ({@code da = dy @ W}, {@code dW = dy^T @
   * a}); in bfloat16 those of {@code Cast(MatMul(Cast(a), Cast(W)^T))} ({@link Bf16Projection.Gradients}),
   * {@code a} cast again.
   */
  @SuppressWarnings("unchecked")
  private static List<Operand<?>> downGradient(Ops tf, GraphOperation op, List<Output<?>> grads,
      Precision precision) {
    Operand<TFloat32> dOut = (Operand<TFloat32>) grads.get(0); // [N, H]
    Operand<TFloat32> g = (Operand<TFloat32>) op.input(1); // [N, F]
    Operand<TFloat32> u = (Operand<TFloat32>) op.input(2); // [N, F]
    Operand<TFloat32> down = (Operand<TFloat32>) op.input(3); // [H, F]
    if (precision == Precision.FLOAT32) {
      Operand<TFloat32> dActivated = LeanGradients.productInputGradient(tf, dOut, down); // [N, F]
      GateGradients gate = GateGradients.of(tf, g, u, dActivated, dOut);
      Operand<TFloat32> activated = tf.math.mul(gate.silu(), u); // [N, F]
      return List.of(dOut, gate.dGate(), gate.dUp(), LeanGradients.productWeightGradient(tf, dOut, activated));
    }
    Bf16Projection.Gradients product = Bf16Projection.Gradients.of(tf, dOut, down);
    GateGradients gate = GateGradients.of(tf, g, u, Precision.float32(tf, product.input()), dOut);
    Operand<TBfloat16> activatedHalf = Bf16Projection.half(tf, tf.math.mul(gate.silu(), u)); // [N, F]
    return List.of(dOut, gate.dGate(), gate.dUp(), product.weight(tf, activatedHalf));
  }
}
