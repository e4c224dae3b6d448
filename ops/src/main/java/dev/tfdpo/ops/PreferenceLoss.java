package dev.tfdpo.ops;

import java.util.Arrays;
import java.util.List;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.tensorflow.Operand;
import org.tensorflow.op.Ops;
import org.tensorflow.types.TFloat32;

/**
 * The preference losses, one small function each, selected by {@code loss_type}.
 *
 * <p>Notation (per pair): {@code pi_c, pi_r, ref_c, ref_r} summed completion log-probs,
 * {@code n_c, n_r} completion lengths, {@code A_c = pi_c/n_c}, {@code A_r = pi_r/n_r},
 * {@code dc = pi_c - ref_c}, {@code dr = pi_r - ref_r}, {@code d = dc - dr}, {@code b} = beta,
 * {@code e} = label_smoothing, {@code s} = sigmoid, {@code ls(z) = log(sigmoid(z))} (stable, via
 * softplus). TRL's losses read the <em>scores</em> {@code f(dc), f(dr)} of the f-divergence
 * ({@link FDivergence}; identity by default), {@code ds = f(dc) - f(dr)}, where TRL does. Each function
 * returns the per-pair loss {@code [P]}; the batch value is its mean. Formulas and sources: the loss
 * table of docs/losses.md.
 */
public enum PreferenceLoss {

  /**
   * DPO (Rafailov et al. 2023, arXiv:2305.18290) with cDPO label smoothing as PaddleNLP, MindSpeed-LLM
   * and TRL up to 0.27 define it: {@code -(1-e)*ls(b*ds) - e*ls(-b*ds)}. With e = 0 this is TRL 1.x's
   * {@code sigmoid} (TRL 1.x ignores e here).
   */
  SIGMOID("sigmoid", Family.TRL) {
    @Override
    public Operand<TFloat32> perPair(Ops tf, PairLogProbs x, LossSpec p) {
      return smoothedLogistic(tf, scaledScoreMargin(tf, x, p), p.labelSmoothing());
    }
  },

  /** RSO / SLiC hinge (Liu et al. 2023, arXiv:2309.06657; TRL {@code hinge}): {@code relu(1 - b*ds)}. */
  HINGE("hinge", Family.TRL) {
    @Override
    public Operand<TFloat32> perPair(Ops tf, PairLogProbs x, LossSpec p) {
      Operand<TFloat32> z = scaledScoreMargin(tf, x, p); // [P]
      return tf.nn.relu(tf.math.sub(tf.constant(1f), z));
    }
  },

  /**
   * IPO (Azar et al. 2023, arXiv:2310.12036, eq. 17; TRL {@code ipo}, PaddleNLP, MindSpeed):
   * {@code (f(dc)/n_c - f(dr)/n_r - 1/(2b))^2}, length-averaged log-ratios as TRL (confirmed with the
   * IPO authors) and PaddleNLP.
   */
  IPO("ipo", Family.TRL) {
    @Override
    public Operand<TFloat32> perPair(Ops tf, PairLogProbs x, LossSpec p) {
      Operand<TFloat32> chosen = tf.math.div(chosenScore(tf, x, p), x.chosenTokens()); // [P]
      Operand<TFloat32> rejected = tf.math.div(rejectedScore(tf, x, p), x.rejectedTokens()); // [P]
      Operand<TFloat32> gap = tf.math.sub(tf.math.sub(chosen, rejected), tf.constant(0.5f / p.beta())); // [P]
      return tf.math.square(gap);
    }
  },

  /**
   * Robust DPO (Chowdhury et al. 2024, arXiv:2403.00409; TRL {@code robust}):
   * {@code (-(1-e)*ls(b*ds) + e*ls(-b*ds)) / (1-2e)}, e = flip probability in [0, 0.5). Unbounded below.
   */
  ROBUST("robust", Family.TRL) {
    @Override
    public Operand<TFloat32> perPair(Ops tf, PairLogProbs x, LossSpec p) {
      Operand<TFloat32> z = scaledScoreMargin(tf, x, p); // [P]
      float e = p.labelSmoothing();
      Operand<TFloat32> clean = tf.math.mul(tf.constant(-(1f - e)), Stable.logSigmoid(tf, z)); // [P]
      Operand<TFloat32> flipped = tf.math.mul(tf.constant(e), Stable.logSigmoid(tf, tf.math.neg(z))); // [P]
      return tf.math.div(tf.math.add(clean, flipped), tf.constant(1f - 2f * e));
    }
  },

  /**
   * EXO-pref (Ji et al. 2024, arXiv:2402.00856, eq. 16; TRL {@code exo_pair}), reverse KL between
   * {@code softmax(b*scores)} over the pair and {@code [1-e, e]}:
   * {@code s(b*ds)*(ls(b*ds) - log(1-e)) + s(-b*ds)*(ls(-b*ds) - log(e))}; needs e in (0, 1).
   */
  EXO_PAIR("exo_pair", Family.TRL) {
    @Override
    public Operand<TFloat32> perPair(Ops tf, PairLogProbs x, LossSpec p) {
      Operand<TFloat32> z = scaledScoreMargin(tf, x, p); // [P]
      Operand<TFloat32> minusZ = tf.math.neg(z); // [P]
      float logKeep = (float) Math.log1p(-p.labelSmoothing());
      float logFlip = (float) Math.log(p.labelSmoothing());
      Operand<TFloat32> win =
          tf.math.mul(tf.math.sigmoid(z), tf.math.sub(Stable.logSigmoid(tf, z), tf.constant(logKeep))); // [P]
      Operand<TFloat32> lose =
          tf.math.mul(
              tf.math.sigmoid(minusZ), tf.math.sub(Stable.logSigmoid(tf, minusZ), tf.constant(logFlip))); // [P]
      return tf.math.add(win, lose);
    }
  },

  /**
   * NCA (Chen et al. 2024, arXiv:2402.05369; TRL {@code nca_pair}), with {@code r_c = b*f(dc)},
   * {@code r_r = b*f(dr)}: {@code -ls(r_c) - 0.5*ls(-r_c) - 0.5*ls(-r_r)}.
   */
  NCA_PAIR("nca_pair", Family.TRL) {
    @Override
    public Operand<TFloat32> perPair(Ops tf, PairLogProbs x, LossSpec p) {
      Operand<TFloat32> chosen = tf.math.mul(tf.constant(p.beta()), chosenScore(tf, x, p)); // [P]
      Operand<TFloat32> rejected = tf.math.mul(tf.constant(p.beta()), rejectedScore(tf, x, p)); // [P]
      Operand<TFloat32> up = tf.math.neg(Stable.logSigmoid(tf, chosen)); // [P]
      Operand<TFloat32> chosenDown = Stable.logSigmoid(tf, tf.math.neg(chosen)); // [P]
      Operand<TFloat32> rejectedDown = Stable.logSigmoid(tf, tf.math.neg(rejected)); // [P]
      Operand<TFloat32> down = tf.math.mul(tf.constant(-0.5f), tf.math.add(chosenDown, rejectedDown)); // [P]
      return tf.math.add(up, down);
    }
  },

  /**
   * Pairwise BCO (Jung et al. 2024, arXiv:2404.04656; TRL 1.x {@code bco_pair}, without TRL 0.x's
   * running reward mean): {@code -ls(b*f(dc)) - ls(-b*f(dr))}.
   */
  BCO_PAIR("bco_pair", Family.TRL) {
    @Override
    public Operand<TFloat32> perPair(Ops tf, PairLogProbs x, LossSpec p) {
      Operand<TFloat32> chosen = tf.math.mul(tf.constant(p.beta()), chosenScore(tf, x, p)); // [P]
      Operand<TFloat32> rejected = tf.math.mul(tf.constant(p.beta()), rejectedScore(tf, x, p)); // [P]
      return tf.math.neg(
          tf.math.add(Stable.logSigmoid(tf, chosen), Stable.logSigmoid(tf, tf.math.neg(rejected))));
    }
  },

  /**
   * SPPO with hard win probabilities (Wu et al. 2024, arXiv:2405.00675, eq. 4.7; TRL, PaddleNLP
   * {@code sppo_hard}): {@code (f(dc) - 0.5/b)^2 + (f(dr) + 0.5/b)^2}.
   */
  SPPO_HARD("sppo_hard", Family.TRL) {
    @Override
    public Operand<TFloat32> perPair(Ops tf, PairLogProbs x, LossSpec p) {
      Operand<TFloat32> half = tf.constant(0.5f / p.beta());
      Operand<TFloat32> winner = tf.math.square(tf.math.sub(chosenScore(tf, x, p), half)); // [P]
      Operand<TFloat32> loser = tf.math.square(tf.math.add(rejectedScore(tf, x, p), half)); // [P]
      return tf.math.add(winner, loser);
    }
  },

  /**
   * AOT, paired (Melnyk et al. 2024, arXiv:2406.05882; TRL {@code aot}): {@code z = sort_batch(pi_c -
   * pi_r) - sort_batch(ref_c - ref_r)} (ascending, over the micro-batch), then {@code -(1-e)*ls(b*z) -
   * e*ls(-b*z)}. Uses the raw log-probs, not f-divergence scores (as TRL).
   */
  AOT("aot", Family.TRL) {
    @Override
    public Operand<TFloat32> perPair(Ops tf, PairLogProbs x, LossSpec p) {
      Operand<TFloat32> policy = BatchSort.ascending(tf, tf.math.sub(x.policyChosen(), x.policyRejected())); // [P]
      Operand<TFloat32> reference = BatchSort.ascending(tf, tf.math.sub(x.refChosen(), x.refRejected())); // [P]
      Operand<TFloat32> z = tf.math.mul(tf.constant(p.beta()), tf.math.sub(policy, reference)); // [P]
      return smoothedLogistic(tf, z, p.labelSmoothing());
    }
  },

  /**
   * AOT, unpaired (Melnyk et al. 2024; TRL {@code aot_unpaired}, formerly {@code aot_pair}):
   * {@code z = sort_batch(dc) - sort_batch(dr)}, then {@code -(1-e)*ls(b*z) - e*ls(-b*z)}.
   */
  AOT_UNPAIRED("aot_unpaired", Family.TRL, "aot_pair") {
    @Override
    public Operand<TFloat32> perPair(Ops tf, PairLogProbs x, LossSpec p) {
      Operand<TFloat32> chosen = BatchSort.ascending(tf, chosenRatio(tf, x)); // [P]
      Operand<TFloat32> rejected = BatchSort.ascending(tf, rejectedRatio(tf, x)); // [P]
      Operand<TFloat32> z = tf.math.mul(tf.constant(p.beta()), tf.math.sub(chosen, rejected)); // [P]
      return smoothedLogistic(tf, z, p.labelSmoothing());
    }
  },

  /**
   * APO-zero (D'Oosterlinck et al. 2024, arXiv:2408.06266, eq. 7; TRL {@code apo_zero}):
   * {@code 1 - s(b*dc) + s(b*dr)} (log-ratios, as TRL).
   */
  APO_ZERO("apo_zero", Family.TRL) {
    @Override
    public Operand<TFloat32> perPair(Ops tf, PairLogProbs x, LossSpec p) {
      Operand<TFloat32> chosen = tf.math.sigmoid(tf.math.mul(tf.constant(p.beta()), chosenRatio(tf, x))); // [P]
      Operand<TFloat32> rejected = tf.math.sigmoid(tf.math.mul(tf.constant(p.beta()), rejectedRatio(tf, x))); // [P]
      return tf.math.add(tf.math.sub(tf.constant(1f), chosen), rejected);
    }
  },

  /**
   * APO-down (D'Oosterlinck et al. 2024, eq. 8; TRL {@code apo_down}): {@code s(b*dc) + 1 - s(b*ds)}.
   */
  APO_DOWN("apo_down", Family.TRL) {
    @Override
    public Operand<TFloat32> perPair(Ops tf, PairLogProbs x, LossSpec p) {
      Operand<TFloat32> chosen = tf.math.sigmoid(tf.math.mul(tf.constant(p.beta()), chosenRatio(tf, x))); // [P]
      Operand<TFloat32> margin = tf.math.sigmoid(scaledScoreMargin(tf, x, p)); // [P]
      return tf.math.add(chosen, tf.math.sub(tf.constant(1f), margin));
    }
  },

  /**
   * DiscoPOP / log-ratio modulated loss (Chris Lu et al. 2024, arXiv:2406.08414, eq. 5; TRL
   * {@code discopop}): {@code z = b*ds}, {@code m = s(z/tau)}: {@code (1-m)*(-ls(z)) + m*exp(-z)}.
   * Computed as {@code s(-z/tau)*(-ls(z)) + exp(ls(z/tau) - z)}: equal, but without {@code 0 * inf}
   * when {@code z} is very negative.
   */
  DISCOPOP("discopop", Family.TRL) {
    @Override
    public Operand<TFloat32> perPair(Ops tf, PairLogProbs x, LossSpec p) {
      Operand<TFloat32> z = scaledScoreMargin(tf, x, p); // [P]
      Operand<TFloat32> tempered = tf.math.div(z, tf.constant(p.discopopTau())); // [P]
      Operand<TFloat32> logistic =
          tf.math.mul(tf.math.sigmoid(tf.math.neg(tempered)), tf.math.neg(Stable.logSigmoid(tf, z))); // [P]
      Operand<TFloat32> exponential = tf.math.exp(tf.math.sub(Stable.logSigmoid(tf, tempered), z)); // [P]
      return tf.math.add(logistic, exponential);
    }
  },

  /**
   * Length-normalised sigmoid (TRL 1.x {@code sigmoid_norm}): {@code -ls(b*(f(dc)/n_c - f(dr)/n_r))}.
   */
  SIGMOID_NORM("sigmoid_norm", Family.TRL) {
    @Override
    public Operand<TFloat32> perPair(Ops tf, PairLogProbs x, LossSpec p) {
      Operand<TFloat32> chosen = tf.math.div(chosenScore(tf, x, p), x.chosenTokens()); // [P]
      Operand<TFloat32> rejected = tf.math.div(rejectedScore(tf, x, p), x.rejectedTokens()); // [P]
      Operand<TFloat32> z = tf.math.mul(tf.constant(p.beta()), tf.math.sub(chosen, rejected)); // [P]
      return tf.math.neg(Stable.logSigmoid(tf, z));
    }
  },

  /**
   * Supervised term as a loss type (TRL 1.x {@code sft}, used by MPO): the token-mean NLL over all chosen
   * completion tokens of the micro-batch, {@code -sum(pi_c) / sum(n_c)} on the plain (not LD-weighted)
   * sums; one scalar, broadcast to {@code [P]} so it combines like the others.
   */
  SFT("sft", Family.SFT) {
    @Override
    public Operand<TFloat32> perPair(Ops tf, PairLogProbs x, LossSpec p) {
      // Ones shaped from the token counts: OnesLike has no gradient, so it must stay off the policy's path.
      return tf.math.mul(chosenNll(tf, x), tf.onesLike(x.chosenTokens()));
    }
  },

  /**
   * Pairwise KTO (Ethayarajh et al. 2024, arXiv:2402.01306; PaddleNLP {@code kto_pair}), with
   * {@code KL_c = max(0, mean_batch(dc))}, {@code KL_r = max(0, mean_batch(dr))} (no gradient):
   * PaddleNLP averages the 2P values {@code 1 - s(b*(dc - KL_r))} and {@code 1 - s(b*(KL_c - dr))};
   * per pair that is their average.
   */
  KTO_PAIR("kto_pair", Family.PADDLE) {
    @Override
    public Operand<TFloat32> perPair(Ops tf, PairLogProbs x, LossSpec p) {
      Operand<TFloat32> chosen = chosenRatio(tf, x); // [P]
      Operand<TFloat32> rejected = rejectedRatio(tf, x); // [P]
      Operand<TFloat32> klChosen = batchKl(tf, chosen); // []
      Operand<TFloat32> klRejected = batchKl(tf, rejected); // []
      Operand<TFloat32> b = tf.constant(p.beta());
      Operand<TFloat32> up = tf.math.sigmoid(tf.math.mul(b, tf.math.sub(chosen, klRejected))); // [P]
      Operand<TFloat32> down = tf.math.sigmoid(tf.math.mul(b, tf.math.sub(klChosen, rejected))); // [P]
      return tf.math.sub(tf.constant(1f), tf.math.mul(tf.constant(0.5f), tf.math.add(up, down)));
    }
  },

  /**
   * DPO-Positive (Pal et al. 2024, "Smaug", arXiv:2402.13228, eq. 3; PaddleNLP {@code dpop}):
   * {@code -ls(b*(d - lambda*max(0, ref_c - pi_c)))}, lambda = {@code dpop_lambda}. The penalty is
   * inside the sigmoid as in the paper (one PaddleNLP version adds it outside instead).
   */
  DPOP("dpop", Family.PADDLE) {
    @Override
    public Operand<TFloat32> perPair(Ops tf, PairLogProbs x, LossSpec p) {
      Operand<TFloat32> shortfall =
          tf.math.maximum(tf.constant(0f), tf.math.sub(x.refChosen(), x.policyChosen())); // [P]
      Operand<TFloat32> penalised =
          tf.math.sub(logRatioMargin(tf, x), tf.math.mul(tf.constant(p.dpopLambda()), shortfall)); // [P]
      return tf.math.neg(Stable.logSigmoid(tf, tf.math.mul(tf.constant(p.beta()), penalised)));
    }
  },

  /**
   * ORPO's odds-ratio term (Hong et al. 2024, arXiv:2403.07691, eq. 6-7; PaddleNLP {@code orpo} /
   * {@code or}), reference-free, on averaged log-probs: {@code lo = (A_c - A_r) - (log(1-exp(A_c)) -
   * log(1-exp(A_r)))}, loss {@code -ls(lo)}. The SFT term of ORPO is {@code sft_loss_ratio} (default 1
   * with this loss, see {@link LossSpec}).
   */
  ORPO("orpo", Family.PADDLE_REFERENCE_FREE, "or") {
    @Override
    public Operand<TFloat32> perPair(Ops tf, PairLogProbs x, LossSpec p) {
      Operand<TFloat32> chosen = tf.math.div(x.policyChosen(), x.chosenTokens()); // [P] = A_c
      Operand<TFloat32> rejected = tf.math.div(x.policyRejected(), x.rejectedTokens()); // [P] = A_r
      Operand<TFloat32> logOdds =
          tf.math.sub(
              tf.math.sub(chosen, rejected),
              tf.math.sub(Stable.log1mExp(tf, chosen), Stable.log1mExp(tf, rejected))); // [P]
      return tf.math.neg(Stable.logSigmoid(tf, logOdds));
    }
  },

  /**
   * SimPO (Meng et al. 2024, arXiv:2405.14734, eq. 6; PaddleNLP {@code simpo}), reference-free, with
   * label smoothing as PaddleNLP: {@code z = b*(A_c - A_r) - g}, {@code -(1-e)*ls(z) - e*ls(-z)},
   * g = {@code simpo_gamma}.
   */
  SIMPO("simpo", Family.PADDLE_REFERENCE_FREE) {
    @Override
    public Operand<TFloat32> perPair(Ops tf, PairLogProbs x, LossSpec p) {
      Operand<TFloat32> chosen = tf.math.div(x.policyChosen(), x.chosenTokens()); // [P] = A_c
      Operand<TFloat32> rejected = tf.math.div(x.policyRejected(), x.rejectedTokens()); // [P] = A_r
      Operand<TFloat32> z =
          tf.math.sub(
              tf.math.mul(tf.constant(p.beta()), tf.math.sub(chosen, rejected)),
              tf.constant(p.simpoGamma())); // [P]
      return smoothedLogistic(tf, z, p.labelSmoothing());
    }
  };

  /** Where a loss comes from, which decides the options it accepts. */
  enum Family {
    /** TRL 1.x: reads f-divergence scores, uses the reference. */
    TRL,
    /** The {@code sft} term: neither preference nor reference. */
    SFT,
    /** PaddleNLP, uses the reference, ignores {@code f_divergence_type}. */
    PADDLE,
    /** PaddleNLP, reference-free. */
    PADDLE_REFERENCE_FREE
  }

  private final String configName;
  private final Family family;
  private final List<String> aliases;

  PreferenceLoss(String configName, Family family, String... aliases) {
    this.configName = configName;
    this.family = family;
    this.aliases = List.of(aliases);
  }

  /** The per-pair loss {@code [P]}. */
  public abstract Operand<TFloat32> perPair(Ops tf, PairLogProbs x, LossSpec p);

  /** The name used in configs ({@code loss_type}) and in the metric {@code {name}_loss}. */
  public String configName() {
    return configName;
  }

  /** False for SimPO and ORPO, which never read the reference log-probs. */
  public boolean usesReference() {
    return family == Family.TRL || family == Family.PADDLE;
  }

  /** True for the TRL 1.x preference losses, the only ones {@code f_divergence_type} applies to. */
  public boolean readsScores() {
    return family == Family.TRL;
  }

  /** True for the SFT term (not a preference loss). */
  public boolean isSft() {
    return family == Family.SFT;
  }

  /** True for the losses that sort over the batch (WPO weights would be misaligned, as TRL says). */
  public boolean sortsBatch() {
    return this == AOT || this == AOT_UNPAIRED;
  }

  /** Looks up a {@code loss_type} or alias; an unknown name is an error listing the known ones. */
  public static PreferenceLoss fromName(String name) {
    for (PreferenceLoss l : values()) {
      if (l.configName.equals(name) || l.aliases.contains(name)) {
        return l;
      }
    }
    throw new IllegalArgumentException("unknown loss_type '" + name + "'; known: " + names());
  }

  /** Known {@code loss_type} names and aliases, comma-separated. */
  public static String names() {
    return Arrays.stream(values())
        .flatMap(l -> Stream.concat(Stream.of(l.configName), l.aliases.stream()))
        .collect(Collectors.joining(", "));
  }

  /** {@code -(1-e)*ls(z) - e*ls(-z)}: the logistic loss with label smoothing e (cDPO). */
  static Operand<TFloat32> smoothedLogistic(Ops tf, Operand<TFloat32> z, float e) {
    Operand<TFloat32> agree = tf.math.mul(tf.constant(1f - e), Stable.logSigmoid(tf, z)); // [P]
    Operand<TFloat32> disagree = tf.math.mul(tf.constant(e), Stable.logSigmoid(tf, tf.math.neg(z))); // [P]
    return tf.math.neg(tf.math.add(agree, disagree));
  }

  /** {@code dc = pi_c - ref_c}. */
  static Operand<TFloat32> chosenRatio(Ops tf, PairLogProbs x) {
    return tf.math.sub(x.policyChosen(), x.refChosen());
  }

  /** {@code dr = pi_r - ref_r}. */
  static Operand<TFloat32> rejectedRatio(Ops tf, PairLogProbs x) {
    return tf.math.sub(x.policyRejected(), x.refRejected());
  }

  /** {@code d = dc - dr}. */
  static Operand<TFloat32> logRatioMargin(Ops tf, PairLogProbs x) {
    return tf.math.sub(chosenRatio(tf, x), rejectedRatio(tf, x));
  }

  /** {@code f(dc)}, TRL's {@code chosen_scores}. */
  static Operand<TFloat32> chosenScore(Ops tf, PairLogProbs x, LossSpec p) {
    return p.fDivergence().score(tf, chosenRatio(tf, x), p.fAlphaDivergenceCoef());
  }

  /** {@code f(dr)}, TRL's {@code rejected_scores}. */
  static Operand<TFloat32> rejectedScore(Ops tf, PairLogProbs x, LossSpec p) {
    return p.fDivergence().score(tf, rejectedRatio(tf, x), p.fAlphaDivergenceCoef());
  }

  /** {@code b * (f(dc) - f(dr))}: TRL's {@code beta * delta_score} (DPO's "logits"). */
  static Operand<TFloat32> scaledScoreMargin(Ops tf, PairLogProbs x, LossSpec p) {
    Operand<TFloat32> margin = tf.math.sub(chosenScore(tf, x, p), rejectedScore(tf, x, p)); // [P]
    return tf.math.mul(tf.constant(p.beta()), margin);
  }

  /** Token-mean NLL over all chosen completion tokens, {@code -sum(pi_c) / sum(n_c)} (plain sums). */
  static Operand<TFloat32> chosenNll(Ops tf, PairLogProbs x) {
    Operand<TFloat32> logps = tf.reduceSum(x.policyChosenUnweighted(), tf.constant(0)); // []
    Operand<TFloat32> tokens = tf.reduceSum(x.chosenTokens(), tf.constant(0)); // []
    return tf.math.neg(tf.math.div(logps, tokens));
  }

  /** KTO's reference point {@code max(0, mean_batch(ratio))}, without gradient. */
  private static Operand<TFloat32> batchKl(Ops tf, Operand<TFloat32> ratio) {
    Operand<TFloat32> mean = tf.math.mean(ratio, tf.constant(0)); // []
    return tf.stopGradient(tf.math.maximum(tf.constant(0f), mean));
  }
}
