package dev.tfdpo.ops;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * The whole loss configuration: which losses, their weights and every parameter, validated.
 *
 * <p>Micro-batch loss (see {@link PreferenceObjective}):
 *
 * <pre>
 *   pref_loss_ratio * sum_k w_k * mean_pairs(wpo * loss_k)
 *   + (sft_loss_ratio + rpo_alpha) * NLL      NLL = -sum(pi_c) / sum(n_c), token mean over chosen
 *   + pref_ftx * mean_pairs(-pi_c / n_c)      MindSpeed's per-pair average, not the token mean
 * </pre>
 *
 * Build one with {@link #builder}; every option has its default from the named constants below.
 *
 * @param components loss types with weights ({@code loss_type}, {@code loss_weights}), in order
 * @param beta {@code b}; also SimPO's reward scale
 * @param labelSmoothing {@code e}: cDPO for sigmoid/simpo, flip rate for robust, EXO's epsilon, AOT's
 *     smoothing
 * @param discopopTau DiscoPOP's temperature
 * @param dpopLambda DPO-Positive's penalty weight
 * @param simpoGamma SimPO's target margin
 * @param prefLossRatio PaddleNLP {@code pref_loss_ratio}: factor on the sum of the loss types
 * @param sftLossRatio PaddleNLP {@code sft_loss_ratio}: factor on the token-mean chosen NLL
 * @param rpoAlpha TRL 0.x / ms-swift {@code rpo_alpha}: factor on the same token-mean chosen NLL
 * @param prefFtx MindSpeed {@code --pref-ftx}: factor on the pair mean of {@code -pi_c/n_c}
 * @param useWeighting TRL {@code use_weighting} (WPO): each pair's loss times {@code w_c * w_r}
 * @param ldAlpha TRL {@code ld_alpha} (LD-DPO): weight of completion tokens past {@code min(n_c, n_r)};
 *     1 = off
 * @param fDivergence TRL {@code f_divergence_type}
 * @param fAlphaDivergenceCoef TRL {@code f_alpha_divergence_coef}
 */
public record LossSpec(
    List<Component> components,
    float beta,
    float labelSmoothing,
    float discopopTau,
    float dpopLambda,
    float simpoGamma,
    float prefLossRatio,
    float sftLossRatio,
    float rpoAlpha,
    float prefFtx,
    boolean useWeighting,
    float ldAlpha,
    FDivergence fDivergence,
    float fAlphaDivergenceCoef) {

  // The defaults are doubles, as the config table holds them; the builder rounds them to float.
  /** TRL default {@code loss_type}. */
  public static final String DEFAULT_LOSS_TYPE = "sigmoid";
  /** TRL default {@code beta}. */
  public static final double DEFAULT_BETA = 0.1;
  /** TRL / PaddleNLP default {@code label_smoothing}. */
  public static final double DEFAULT_LABEL_SMOOTHING = 0.0;
  /** TRL default {@code discopop_tau} (the paper's). */
  public static final double DEFAULT_DISCOPOP_TAU = 0.05;
  /** PaddleNLP default {@code dpop_lambda} (the Smaug paper's). */
  public static final double DEFAULT_DPOP_LAMBDA = 50.0;
  /** PaddleNLP default {@code simpo_gamma}. */
  public static final double DEFAULT_SIMPO_GAMMA = 0.5;
  /** PaddleNLP default {@code pref_loss_ratio}. */
  public static final double DEFAULT_PREF_LOSS_RATIO = 1.0;
  /** Default {@code sft_loss_ratio} without {@code orpo}. */
  public static final double DEFAULT_SFT_LOSS_RATIO = 0.0;
  /** Default {@code sft_loss_ratio} when {@code orpo} is a loss type: ORPO's SFT term at ratio 1. */
  public static final double DEFAULT_ORPO_SFT_LOSS_RATIO = 1.0;
  /** Default {@code rpo_alpha} (off). */
  public static final double DEFAULT_RPO_ALPHA = 0.0;
  /** Default {@code pref_ftx} (off). */
  public static final double DEFAULT_PREF_FTX = 0.0;
  /** Default {@code ld_alpha}: 1 weighs every token fully (TRL's {@code None}). */
  public static final double DEFAULT_LD_ALPHA = 1.0;
  /** TRL default {@code f_alpha_divergence_coef}. */
  public static final double DEFAULT_F_ALPHA_DIVERGENCE_COEF = 0.5;

  /** One loss type and its weight. */
  public record Component(PreferenceLoss loss, float weight) {}

  /**
   * The valid range of {@code label_smoothing}, for every loss type and the config alike: a flip
   * probability (cDPO, robust DPO; TRL documents [0, 0.5]), where 0.5 would make the robust loss divide by
   * zero and more would prefer the rejected answer.
   */
  public static final String LABEL_SMOOTHING_RANGE = "in [0, 0.5)";

  /** Whether {@code value} is {@link #LABEL_SMOOTHING_RANGE}. */
  public static boolean labelSmoothingInRange(double value) {
    return value >= 0 && value < 0.5;
  }

  /** Validates; every problem is an {@link IllegalArgumentException} naming the option. */
  public LossSpec {
    components = List.copyOf(components);
    require(!components.isEmpty(), "loss_type: give at least one loss type");
    Set<PreferenceLoss> seen = new HashSet<>();
    for (Component c : components) {
      require(seen.add(c.loss()), "loss_type: '" + c.loss().configName() + "' is listed twice");
      require(Float.isFinite(c.weight()), "loss_weights: weight of '" + c.loss().configName() + "' must be finite");
    }
    require(Float.isFinite(beta) && beta > 0, "beta must be > 0, got " + beta);
    require(labelSmoothingInRange(labelSmoothing),
        "label_smoothing must be " + LABEL_SMOOTHING_RANGE + ", got " + labelSmoothing);
    require(!has(components, PreferenceLoss.EXO_PAIR) || labelSmoothing > 0,
        "exo_pair: label_smoothing must be > 0 (the EXO paper recommends 1e-3; TRL 1.x refuses 0 too)");
    require(Float.isFinite(discopopTau) && discopopTau > 0, "discopop_tau must be > 0, got " + discopopTau);
    require(Float.isFinite(dpopLambda) && dpopLambda >= 0, "dpop_lambda must be >= 0, got " + dpopLambda);
    require(Float.isFinite(simpoGamma), "simpo_gamma must be finite, got " + simpoGamma);
    requireNonNegative("pref_loss_ratio", prefLossRatio);
    requireNonNegative("sft_loss_ratio", sftLossRatio);
    requireNonNegative("rpo_alpha", rpoAlpha);
    requireNonNegative("pref_ftx", prefFtx);
    require(ldAlpha >= 0 && ldAlpha <= 1, "ld_alpha must be in [0, 1] (1 = off), got " + ldAlpha);
    require(fDivergence != null, "f_divergence_type must be set");
    require(Float.isFinite(fAlphaDivergenceCoef),
        "f_alpha_divergence_coef must be finite, got " + fAlphaDivergenceCoef);
    for (Component c : components) {
      require(!(useWeighting && c.loss().sortsBatch()),
          "use_weighting (WPO) does not work with '" + c.loss().configName()
              + "': it sorts pairs across the batch, so per-pair weights would be misaligned (TRL refuses too)");
      require(fDivergence == FDivergence.REVERSE_KL || c.loss().readsScores() || c.loss().isSft(),
          "f_divergence_type '" + fDivergence.configName() + "' applies to TRL's loss types only, not to '"
              + c.loss().configName() + "'");
    }
  }

  /** A builder with every option at its default and the given loss types (weights 1). */
  public static Builder builder(String... lossTypes) {
    return new Builder().lossTypes(List.of(lossTypes));
  }

  /** True when no loss reads the reference log-probs and at least one is a reference-free preference loss (SimPO, ORPO). */
  public boolean referenceFree() {
    boolean anyReference = components.stream().anyMatch(c -> c.loss().usesReference());
    boolean anyPreference = components.stream().anyMatch(c -> !c.loss().isSft());
    return anyPreference && !anyReference;
  }

  /** True when the NLL term {@code (sft_loss_ratio + rpo_alpha) * NLL} is part of the loss. */
  public boolean hasNllTerm() {
    return sftLossRatio + rpoAlpha > 0;
  }

  /**
   * Names of the loss metrics, in order: {@code {loss_type}_loss} per component (its pair mean, before
   * weight and ratio), then {@code sft_loss} (the token-mean chosen NLL) when the NLL term is on and
   * {@code sft} is not already a component, then {@code ftx_loss} (pair mean of {@code -pi_c/n_c}) when
   * {@code pref_ftx > 0}.
   */
  public List<String> metricNames() {
    List<String> names = new ArrayList<>();
    components.forEach(c -> names.add(c.loss().configName() + "_loss"));
    if (hasNllTerm() && !has(components, PreferenceLoss.SFT)) {
      names.add("sft_loss");
    }
    if (prefFtx > 0) {
      names.add("ftx_loss");
    }
    return List.copyOf(names);
  }

  private static boolean has(List<Component> components, PreferenceLoss loss) {
    return components.stream().anyMatch(c -> c.loss() == loss);
  }

  private static void requireNonNegative(String name, float value) {
    require(Float.isFinite(value) && value >= 0, name + " must be >= 0, got " + value);
  }

  private static void require(boolean ok, String message) {
    if (!ok) {
      throw new IllegalArgumentException(message);
    }
  }

  /** Mutable settings with defaults; {@link #build} validates. */
  public static final class Builder {
    private List<String> lossTypes = List.of(DEFAULT_LOSS_TYPE);
    private List<Float> lossWeights;
    private float beta = (float) DEFAULT_BETA;
    private float labelSmoothing = (float) DEFAULT_LABEL_SMOOTHING;
    private float discopopTau = (float) DEFAULT_DISCOPOP_TAU;
    private float dpopLambda = (float) DEFAULT_DPOP_LAMBDA;
    private float simpoGamma = (float) DEFAULT_SIMPO_GAMMA;
    private float prefLossRatio = (float) DEFAULT_PREF_LOSS_RATIO;
    private Float sftLossRatio;
    private float rpoAlpha = (float) DEFAULT_RPO_ALPHA;
    private float prefFtx = (float) DEFAULT_PREF_FTX;
    private boolean useWeighting;
    private float ldAlpha = (float) DEFAULT_LD_ALPHA;
    private FDivergence fDivergence = FDivergence.REVERSE_KL;
    private float fAlphaDivergenceCoef = (float) DEFAULT_F_ALPHA_DIVERGENCE_COEF;

    private Builder() {}

    /** {@code loss_type}: names or aliases ({@link PreferenceLoss#fromName}). */
    public Builder lossTypes(List<String> names) {
      lossTypes = List.copyOf(names);
      return this;
    }

    /** {@code loss_weights}: one per loss type; null = all 1. */
    public Builder lossWeights(List<Float> weights) {
      lossWeights = weights == null ? null : List.copyOf(weights);
      return this;
    }

    public Builder beta(float v) {
      beta = v;
      return this;
    }

    public Builder labelSmoothing(float v) {
      labelSmoothing = v;
      return this;
    }

    public Builder discopopTau(float v) {
      discopopTau = v;
      return this;
    }

    public Builder dpopLambda(float v) {
      dpopLambda = v;
      return this;
    }

    public Builder simpoGamma(float v) {
      simpoGamma = v;
      return this;
    }

    public Builder prefLossRatio(float v) {
      prefLossRatio = v;
      return this;
    }

    /** {@code sft_loss_ratio}; unset = 1 when {@code orpo} is a loss type, else 0. */
    public Builder sftLossRatio(float v) {
      sftLossRatio = v;
      return this;
    }

    public Builder rpoAlpha(float v) {
      rpoAlpha = v;
      return this;
    }

    public Builder prefFtx(float v) {
      prefFtx = v;
      return this;
    }

    public Builder useWeighting(boolean v) {
      useWeighting = v;
      return this;
    }

    public Builder ldAlpha(float v) {
      ldAlpha = v;
      return this;
    }

    /** {@code f_divergence_type} by config name. */
    public Builder fDivergence(String name) {
      fDivergence = FDivergence.fromName(name);
      return this;
    }

    public Builder fAlphaDivergenceCoef(float v) {
      fAlphaDivergenceCoef = v;
      return this;
    }

    /** The validated spec. */
    public LossSpec build() {
      if (lossWeights != null && lossWeights.size() != lossTypes.size()) {
        throw new IllegalArgumentException(
            "loss_weights has " + lossWeights.size() + " values for " + lossTypes.size() + " loss types "
                + lossTypes);
      }
      List<Component> components = new ArrayList<>();
      for (int k = 0; k < lossTypes.size(); k++) {
        float w = lossWeights == null ? 1f : lossWeights.get(k);
        components.add(new Component(PreferenceLoss.fromName(lossTypes.get(k)), w));
      }
      boolean orpo = components.stream().anyMatch(c -> c.loss() == PreferenceLoss.ORPO);
      float sft = sftLossRatio != null ? sftLossRatio : (float) (orpo ? DEFAULT_ORPO_SFT_LOSS_RATIO : DEFAULT_SFT_LOSS_RATIO);
      return new LossSpec(components, beta, labelSmoothing, discopopTau, dpopLambda, simpoGamma, prefLossRatio,
          sft, rpoAlpha, prefFtx, useWeighting, ldAlpha, fDivergence, fAlphaDivergenceCoef);
    }
  }
}
