package dev.tfdpo.ops;

import org.tensorflow.Operand;
import org.tensorflow.op.Ops;
import org.tensorflow.types.TFloat32;

/**
 * f-DPO's divergence regulariser (Wang et al. 2023, arXiv:2309.16240), TRL 1.x {@code
 * f_divergence_type}: maps a log-ratio {@code r = pi - ref} to the score {@code f'(exp r)} (constants
 * dropped) that TRL's preference losses read instead of {@code r}.
 */
public enum FDivergence {

  /** {@code reverse_kl} (default, standard DPO): {@code f'(t) = log t + 1}, score {@code r}. */
  REVERSE_KL("reverse_kl") {
    @Override
    public Operand<TFloat32> score(Ops tf, Operand<TFloat32> r, float alpha) {
      return r;
    }
  },

  /** {@code forward_kl}: {@code f'(t) = 1 - 1/t}, score {@code -exp(-r)} (unclamped, as TRL). */
  FORWARD_KL("forward_kl") {
    @Override
    public Operand<TFloat32> score(Ops tf, Operand<TFloat32> r, float alpha) {
      return tf.math.neg(tf.math.exp(tf.math.neg(r)));
    }
  },

  /** {@code js_divergence}: {@code f'(t) = log(2t/(1+t))}, score {@code ls(r)} (log 2 dropped). */
  JS_DIVERGENCE("js_divergence") {
    @Override
    public Operand<TFloat32> score(Ops tf, Operand<TFloat32> r, float alpha) {
      return Stable.logSigmoid(tf, r);
    }
  },

  /**
   * {@code alpha_divergence} with {@code a = f_alpha_divergence_coef} (0.5): {@code f'(t) = (t^(a-1) -
   * 1)/(a-1)}, score {@code exp(min((a-1)*r, 80)) / (a-1)} (TRL's float32 clamp); {@code a = 1} is the
   * {@code reverse_kl} limit, as TRL.
   */
  ALPHA_DIVERGENCE("alpha_divergence") {
    @Override
    public Operand<TFloat32> score(Ops tf, Operand<TFloat32> r, float alpha) {
      if (Math.abs(alpha - 1f) < 1e-6f) {
        return r; // the a -> 1 limit of (t^(a-1) - 1)/(a-1) is log t
      }
      Operand<TFloat32> exponent =
          tf.math.minimum(tf.math.mul(tf.constant(alpha - 1f), r), tf.constant(EXPONENT_CAP)); // [P]
      return tf.math.mul(tf.math.exp(exponent), tf.constant(1f / (alpha - 1f)));
    }
  };

  /** TRL clamps the alpha-divergence exponent at 80 in float32 so {@code exp} stays finite. */
  static final float EXPONENT_CAP = 80f;

  private final String configName;

  FDivergence(String configName) {
    this.configName = configName;
  }

  /** The score of log-ratios {@code r} ({@code [P]}); {@code alpha} is used by the alpha divergence only. */
  public abstract Operand<TFloat32> score(Ops tf, Operand<TFloat32> r, float alpha);

  /** The config name ({@code f_divergence_type}). */
  public String configName() {
    return configName;
  }

  /** Looks up an {@code f_divergence_type}; unknown names are an error listing the known ones. */
  public static FDivergence fromName(String name) {
    for (FDivergence f : values()) {
      if (f.configName.equals(name)) {
        return f;
      }
    }
    throw new IllegalArgumentException(
        "unknown f_divergence_type '" + name + "'; known: reverse_kl, forward_kl, js_divergence, alpha_divergence");
  }
}
