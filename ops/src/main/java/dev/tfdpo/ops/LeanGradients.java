package dev.tfdpo.ops;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.tensorflow.GraphOperation;
import org.tensorflow.Operand;
import org.tensorflow.Output;
import org.tensorflow.TensorFlow;
import org.tensorflow.op.Ops;
import org.tensorflow.op.linalg.MatMul;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.family.TNumber;
import org.tensorflow.types.family.TType;

/**
 * Gradients that keep less of the forward pass than TensorFlow's own, with the same operations.
 *
 * <p>A lean operation is built as {@code IdentityN(StopGradient(value), inputs...)} whose name carries a
 * mark: the forward value is computed as usual but never differentiated, and the mark's {@link Rule}
 * gives the gradient of each input. A rule applies exactly the operations TensorFlow's gradient would,
 * but rebuilds what it needs from tensors the backward pass keeps anyway, or computes a product of
 * forward tensors only once the incoming gradient exists ({@link #after}); what TensorFlow would have
 * kept from the forward to the backward pass is then freed at once.
 *
 * <p>TensorFlow's C++ library registers no gradient for {@code IdentityN}; the one registered here
 * dispatches on the mark and passes each output's gradient to its input for any other {@code IdentityN}
 * (what an identity's gradient is). Registration is per process and can fail (another library
 * registered one first, or an OS where TensorFlow Java has no custom gradients): then {@link #active}
 * is false and every lean operation builds its plain form.
 *
 * <p>An input given only so that a rule can read it (not differentiated) goes in through
 * {@code StopGradient}; the rule returns {@link #unused} for it, an operation nothing reads and so
 * nothing runs.
 */
final class LeanGradients {

  /** The gradients of a marked {@code IdentityN}'s inputs, given its outputs' gradients. */
  @FunctionalInterface
  interface Rule {
    List<Operand<?>> gradient(Ops tf, GraphOperation op, List<Output<?>> grads);
  }

  /** Marks registered so far, with their rules (filled by the classes that build lean operations). */
  private static final Map<String, Rule> RULES = new ConcurrentHashMap<>();

  private static final boolean REGISTERED = registerIdentityN();

  /** The mark of {@link #square}. */
  static final String SQUARE = "lean_square";

  static {
    rule(SQUARE, LeanGradients::squareGradient);
  }

  private LeanGradients() {}

  /** Set while {@link #plain} builds: tests compare the lean forms with the plain ones. */
  private static final ThreadLocal<Boolean> PLAIN = ThreadLocal.withInitial(() -> false);

  /** Whether lean operations are built (else callers build the plain forms). */
  static boolean active() {
    return REGISTERED && !PLAIN.get();
  }

  /** What {@code build} builds, with the plain forms of every lean operation (for tests). */
  static <T> T plain(java.util.function.Supplier<T> build) {
    PLAIN.set(true);
    try {
      return build.get();
    } finally {
      PLAIN.set(false);
    }
  }

  /** Registers {@code rule} for {@code IdentityN}s named {@code mark} (or {@code mark_K}). */
  static void rule(String mark, Rule rule) {
    RULES.put(mark, rule);
  }

  /**
   * {@code value} as output 0 of an {@code IdentityN(StopGradient(value), inputs...)} named {@code mark}:
   * its gradients are {@code mark}'s rule's.
   */
  @SuppressWarnings("unchecked")
  static <T extends TType> Operand<T> marked(Ops tf, String mark, Operand<T> value, List<Operand<?>> inputs) {
    List<Operand<?>> all = new ArrayList<>();
    all.add(tf.stopGradient(value));
    all.addAll(inputs);
    return (Operand<T>) tf.withName(mark).identityN(all).output().get(0);
  }

  /**
   * {@code x}, read only once {@code signal} exists: a rule's rebuild of a forward tensor then runs in the
   * backward pass. A data dependency, because the scope TensorFlow Java gives a gradient function drops
   * control dependencies (without it the executor computes the rebuild as soon as {@code x} exists, in the
   * forward pass, and keeps it until the backward pass).
   */
  @SuppressWarnings("unchecked")
  static <T extends TType> Operand<T> after(Ops tf, Operand<T> x, Operand<?> signal) {
    return (Operand<T>) tf.identityN(List.of(x, signal)).output().get(0);
  }

  /**
   * TensorFlow's {@code MatMul} gradient of {@code y = x @ W^T} for {@code x}: {@code dy @ W}.
   *
   * @param dOut {@code [N, out]}
   * @param weight {@code [out, in]}, of dOut's type
   * @return {@code [N, in]}
   */
  static <T extends TNumber> Operand<T> productInputGradient(Ops tf, Operand<T> dOut, Operand<T> weight) {
    return tf.linalg.matMul(dOut, weight);
  }

  /**
   * TensorFlow's {@code MatMul} gradient of {@code y = x @ W^T} for {@code W}: {@code dy^T @ x}.
   *
   * @param dOut {@code [N, out]}
   * @param input {@code [N, in]}, of dOut's type
   * @return {@code [out, in]}
   */
  static <T extends TNumber> Operand<T> productWeightGradient(Ops tf, Operand<T> dOut, Operand<T> input) {
    return tf.linalg.matMul(dOut, input, MatMul.transposeA(true));
  }

  /** The "gradient" of a {@code StopGradient} input: an operation that nothing reads, so it never runs. */
  static Operand<?> unused(Ops tf, GraphOperation op, int input) {
    return tf.zerosLike(op.input(input));
  }

  /**
   * {@code x^2}, whose gradient {@code grad * (2 * x)} is computed in the backward pass. TensorFlow's own
   * {@code Square} gradient computes {@code 2 * x} as soon as {@code x} exists (it reads no gradient) and
   * keeps it until the backward pass: one more {@code [N, H]} tensor per RMSNorm (two per decoder layer).
   */
  static Operand<TFloat32> square(Ops tf, Operand<TFloat32> x) {
    Operand<TFloat32> squares = tf.math.square(x); // [..., H]
    return active() ? marked(tf, SQUARE, squares, List.of(x)) : squares;
  }

  /** TensorFlow's {@code SquareGrad}, {@code Mul(grad, Mul(2, x))}, with {@code 2 * x} made late. */
  @SuppressWarnings("unchecked")
  private static List<Operand<?>> squareGradient(Ops tf, GraphOperation op, List<Output<?>> grads) {
    Operand<TFloat32> dSquares = (Operand<TFloat32>) grads.get(0); // [..., H]
    Operand<TFloat32> x = after(tf, (Operand<TFloat32>) op.input(1), dSquares); // [..., H]
    Operand<TFloat32> twiceX = tf.math.mul(tf.constant(2f), x); // [..., H]
    return List.of(dSquares, tf.math.mul(dSquares, twiceX));
  }

  private static boolean registerIdentityN() {
    try {
      return TensorFlow.registerCustomGradient("IdentityN", LeanGradients::gradient);
    } catch (UnsupportedOperationException e) { // TensorFlow Java has no custom gradients on this OS
      return false;
    }
  }

  /** {@code IdentityN}'s gradient: the mark's rule, else the identity's. */
  private static List<Operand<?>> gradient(Ops tf, GraphOperation op, List<Output<?>> grads) {
    Rule rule = RULES.get(markOf(op.name()));
    if (rule != null) {
      return rule.gradient(tf, op, grads);
    }
    List<Operand<?>> identity = new ArrayList<>();
    for (int i = 0; i < op.numInputs(); i++) {
      identity.add(grads.get(i) != null ? grads.get(i) : tf.zerosLike(op.input(i)));
    }
    return identity;
  }

  /** The last name segment without TensorFlow's uniquifying {@code _K} suffix. */
  static String markOf(String name) {
    String last = name.substring(name.lastIndexOf('/') + 1);
    return last.replaceFirst("_\\d+$", "");
  }
}
