package dev.tfdpo.ops;

import java.util.ArrayList;
import java.util.List;
import org.tensorflow.GraphOperation;
import org.tensorflow.Operand;
import org.tensorflow.Output;
import org.tensorflow.TensorFlow;
import org.tensorflow.op.Ops;
import org.tensorflow.types.TFloat32;

/**
 * SwiGLU's gate, {@code silu(gate) * up}, whose backward pass keeps only {@code gate} and {@code up}.
 *
 * <p>Differentiated as written ({@code Mul(Mul(g, Sigmoid(g)), u)}), TensorFlow's gradient reads four
 * {@code [N, F]} tensors of the forward pass besides the product: {@code g}, {@code sigmoid(g)},
 * {@code silu(g)} and {@code u}, all alive from the layer's forward to its backward. Here the forward
 * value goes through {@code StopGradient} into an {@code IdentityN(value, g, u)} whose gradient this
 * class registers: it rebuilds {@code sigmoid(g)} and {@code silu(g)} from {@code g} in the backward
 * pass and applies exactly TensorFlow's own gradient operations to them ({@code Mul}'s two products,
 * {@code SigmoidGrad}, the sum of {@code g}'s two paths), so the gradients are bitwise those of the plain
 * form. What the forward keeps drops from five {@code [N, F]} tensors per layer (g, sigmoid, silu, u and
 * the product the down projection reads) to three; the backward pays two element-wise kernels more.
 *
 * <p>TensorFlow's C++ library registers no gradient for {@code IdentityN}; the one registered here passes
 * each output's gradient to its input for any other {@code IdentityN} (what an identity's gradient is).
 * Registration is per process and can fail (another library registered one first, or an OS where
 * TensorFlow Java does not support custom gradients): then the plain form is built.
 */
public final class GatedSilu {

  /** The operation name that marks the IdentityN of this activation. */
  static final String MARK = "gated_silu";

  private static final boolean REGISTERED = register();

  private GatedSilu() {}

  /**
   * {@code silu(gate) * up}, {@code [N, F]}: values bitwise those of {@link Layers#silu} times
   * {@code up}, gradients bitwise those of that form, and a forward pass that leaves only {@code gate}
   * and {@code up} (and the product) for the backward pass.
   */
  public static Operand<TFloat32> apply(Ops tf, Operand<TFloat32> gate, Operand<TFloat32> up) {
    Operand<TFloat32> value = tf.math.mul(Layers.silu(tf, gate), up); // [N, F]
    if (!REGISTERED) {
      return value;
    }
    List<Operand<?>> inputs = List.of(tf.stopGradient(value), gate, up);
    @SuppressWarnings("unchecked")
    Operand<TFloat32> out = (Operand<TFloat32>) tf.withName(MARK).identityN(inputs).output().get(0);
    return out; // [N, F]
  }

  /** Whether the lean gradient is in use in this process (else {@link #apply} builds the plain form). */
  public static boolean active() {
    return REGISTERED;
  }

  private static boolean register() {
    try {
      return TensorFlow.registerCustomGradient("IdentityN", GatedSilu::gradient);
    } catch (UnsupportedOperationException e) { // TensorFlow Java has no custom gradients on this OS
      return false;
    }
  }

  /** {@code IdentityN}'s gradient: this activation's for its own, the identity's for any other. */
  private static List<Operand<?>> gradient(Ops tf, GraphOperation op, List<Output<?>> grads) {
    if (!op.name().substring(op.name().lastIndexOf('/') + 1).startsWith(MARK) || op.numInputs() != 3) {
      List<Operand<?>> identity = new ArrayList<>();
      for (int i = 0; i < op.numInputs(); i++) {
        identity.add(grads.get(i) != null ? grads.get(i) : tf.zerosLike(op.input(i)));
      }
      return identity;
    }
    @SuppressWarnings("unchecked")
    Operand<TFloat32> dValue = (Operand<TFloat32>) grads.get(0); // [N, F]
    @SuppressWarnings("unchecked")
    Operand<TFloat32> g = (Operand<TFloat32>) op.input(1); // [N, F]
    @SuppressWarnings("unchecked")
    Operand<TFloat32> u = (Operand<TFloat32>) op.input(2); // [N, F]
    // The forward's silu(g), rebuilt when the backward pass reaches it: read through an IdentityN that also
    // takes dValue, so the executor runs these only once dValue exists (else it would run them as soon as g
    // does, in the forward pass, and keep them until the backward). Not a control dependency: the scope
    // TensorFlow Java gives a gradient function drops those.
    @SuppressWarnings("unchecked")
    Operand<TFloat32> gLater = (Operand<TFloat32>) tf.identityN(List.of(g, dValue)).output().get(0); // [N, F]
    Operand<TFloat32> sigmoid = tf.math.sigmoid(gLater); // [N, F]
    Operand<TFloat32> silu = tf.math.mul(gLater, sigmoid); // [N, F]
    // Mul(silu, u): d silu = dValue * u, d u = silu * dValue.
    Operand<TFloat32> dSilu = tf.math.mul(dValue, u); // [N, F]
    Operand<TFloat32> dUp = tf.math.mul(silu, dValue); // [N, F]
    // Mul(g, sigmoid): d g = dSilu * sigmoid, d sigmoid = g * dSilu; Sigmoid: SigmoidGrad(sigmoid, d sigmoid).
    Operand<TFloat32> dGateDirect = tf.math.mul(dSilu, sigmoid); // [N, F]
    Operand<TFloat32> dGateThroughSigmoid = tf.math.sigmoidGrad(sigmoid, tf.math.mul(g, dSilu)); // [N, F]
    Operand<TFloat32> dGate = tf.math.addN(List.of(dGateDirect, dGateThroughSigmoid)); // [N, F]
    return List.of(dValue, dGate, dUp);
  }
}
