package dev.tfdpo.ops;

import java.util.Arrays;
import java.util.stream.Collectors;
import org.tensorflow.Operand;
import org.tensorflow.op.Ops;
import org.tensorflow.types.TFloat32;

/**
 * The preference losses, one small function each, selected by {@code loss_type}.
 *
 * <p>Notation (per pair): {@code dc = pi_c - ref_c}, {@code dr = pi_r - ref_r}, {@code d = dc - dr},
 * {@code b} = beta, {@code e} = label_smoothing, {@code ls(z) = log(sigmoid(z))}. Each function returns
 * the per-pair loss {@code [P]}; the batch loss is its mean.
 */
public enum PreferenceLoss {

  /**
   * DPO (Rafailov et al. 2023, arXiv:2305.18290) with cDPO label smoothing as PaddleNLP, MindSpeed-LLM
   * and TRL up to 0.27 define it: {@code -(1-e)*ls(b*d) - e*ls(-b*d)}. With e = 0 this is TRL 1.x's
   * {@code sigmoid}.
   */
  SIGMOID("sigmoid") {
    @Override
    public Operand<TFloat32> perPair(Ops tf, PairLogProbs x, LossParams p) {
      Operand<TFloat32> logits = scaledMargin(tf, x, p); // [P] = b*d
      Operand<TFloat32> agree = Stable.logSigmoid(tf, logits); // [P]
      Operand<TFloat32> disagree = Stable.logSigmoid(tf, tf.math.neg(logits)); // [P]
      Operand<TFloat32> kept = tf.math.mul(tf.constant(1f - p.labelSmoothing()), agree);
      Operand<TFloat32> flipped = tf.math.mul(tf.constant(p.labelSmoothing()), disagree);
      return tf.math.neg(tf.math.add(kept, flipped));
    }
  };

  private final String configName;

  PreferenceLoss(String configName) {
    this.configName = configName;
  }

  /** The per-pair loss {@code [P]}. */
  public abstract Operand<TFloat32> perPair(Ops tf, PairLogProbs x, LossParams p);

  /** The name used in configs ({@code loss_type}). */
  public String configName() {
    return configName;
  }

  /** Looks up a {@code loss_type}; an unknown name is an error listing the known ones. */
  public static PreferenceLoss fromName(String name) {
    for (PreferenceLoss l : values()) {
      if (l.configName.equals(name)) {
        return l;
      }
    }
    throw new IllegalArgumentException(
        "unknown loss_type '" + name + "'; known: " + names());
  }

  /** Known {@code loss_type} names, comma-separated. */
  public static String names() {
    return Arrays.stream(values()).map(PreferenceLoss::configName).collect(Collectors.joining(", "));
  }

  /** {@code b * ((pi_c - ref_c) - (pi_r - ref_r))}, TRL's "logits". */
  static Operand<TFloat32> scaledMargin(Ops tf, PairLogProbs x, LossParams p) {
    Operand<TFloat32> chosenRatio = tf.math.sub(x.policyChosen(), x.refChosen()); // [P]
    Operand<TFloat32> rejectedRatio = tf.math.sub(x.policyRejected(), x.refRejected()); // [P]
    Operand<TFloat32> margin = tf.math.sub(chosenRatio, rejectedRatio); // [P]
    return tf.math.mul(tf.constant(p.beta()), margin);
  }
}
