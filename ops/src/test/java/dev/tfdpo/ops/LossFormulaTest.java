package dev.tfdpo.ops;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.tensorflow.Graph;
import org.tensorflow.Operand;
import org.tensorflow.Session;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Gradients;
import org.tensorflow.op.core.Placeholder;
import org.tensorflow.types.TFloat32;

/**
 * Every loss type and every ratio / term option on fed per-pair log-probs (no model), against a plain
 * Java (double) computation written from the formulas of docs/losses.md, plus a finite-difference check
 * of the gradient with respect to {@code pi_c} and {@code pi_r}. A few values are derived by hand in the
 * comments of {@link #handDerivedValues}.
 */
class LossFormulaTest {

  /** Per-pair inputs, in double. */
  record In(double[] pc, double[] pr, double[] rc, double[] rr, double[] nc, double[] nr, double[] w) {
    In with(double[] newPc, double[] newPr) {
      return new In(newPc, newPr, rc, rr, nc, nr, w);
    }
  }

  /** Three pairs with mixed signs of every log-ratio, lengths that differ. */
  static final In BASE = new In(
      new double[] {-40, -55, -30}, new double[] {-45, -50, -38},
      new double[] {-42, -54, -31}, new double[] {-44, -52, -35},
      new double[] {20, 25, 15}, new double[] {22, 24, 18}, new double[] {1, 1, 1});

  static Stream<Arguments> specs() {
    List<Arguments> out = new ArrayList<>();
    for (PreferenceLoss l : PreferenceLoss.values()) {
      LossSpec.Builder b = LossSpec.builder(l.configName());
      if (l == PreferenceLoss.EXO_PAIR || l == PreferenceLoss.ROBUST) {
        b.labelSmoothing(0.1f);
      }
      out.add(Arguments.of(l.configName(), b.build(), BASE));
    }
    out.add(Arguments.of("cDPO sigmoid e=0.2", LossSpec.builder("sigmoid").labelSmoothing(0.2f).build(), BASE));
    out.add(Arguments.of("aot e=0.1", LossSpec.builder("aot").labelSmoothing(0.1f).build(), BASE));
    out.add(Arguments.of("simpo e=0.1 g=1 b=2",
        LossSpec.builder("simpo").labelSmoothing(0.1f).simpoGamma(1f).beta(2f).build(), BASE));
    out.add(Arguments.of("or alias, sft ratio 0.5", LossSpec.builder("or").sftLossRatio(0.5f).build(), BASE));
    out.add(Arguments.of("mpo", LossSpec.builder("sigmoid", "bco_pair", "sft")
        .lossWeights(List.of(0.8f, 0.2f, 1f)).build(), BASE));
    out.add(Arguments.of("paddle ratios", LossSpec.builder("sigmoid").prefLossRatio(0.7f).sftLossRatio(0.3f).build(), BASE));
    out.add(Arguments.of("rpo_alpha", LossSpec.builder("sigmoid").rpoAlpha(0.5f).build(), BASE));
    out.add(Arguments.of("pref_ftx", LossSpec.builder("ipo").prefFtx(0.25f).build(), BASE));
    out.add(Arguments.of("all terms", LossSpec.builder("dpop", "kto_pair").lossWeights(List.of(0.6f, 0.4f))
        .prefLossRatio(0.9f).sftLossRatio(0.2f).rpoAlpha(0.1f).prefFtx(0.3f).dpopLambda(5f).build(), BASE));
    for (String f : List.of("forward_kl", "js_divergence", "alpha_divergence")) {
      out.add(Arguments.of("sigmoid+ipo+nca " + f, LossSpec.builder("sigmoid", "ipo", "nca_pair", "apo_down")
          .fDivergence(f).build(), BASE));
    }
    out.add(Arguments.of("alpha_divergence a=0.3", LossSpec.builder("sppo_hard", "bco_pair")
        .fDivergence("alpha_divergence").fAlphaDivergenceCoef(0.3f).build(), BASE));
    In weighted = new In(BASE.pc, BASE.pr, BASE.rc, BASE.rr, BASE.nc, BASE.nr, new double[] {0.5, 0.8, 1.2});
    out.add(Arguments.of("WPO weights, sigmoid+sft", LossSpec.builder("sigmoid", "sft").useWeighting(true).build(),
        weighted));
    // Saturated: huge margins; every value and gradient must stay finite.
    In extreme = new In(new double[] {-10, -3000, -1e-3}, new double[] {-3000, -10, -1e-6},
        new double[] {-3000, -10, -50}, new double[] {-10, -3000, -50},
        new double[] {5, 5, 5}, new double[] {5, 5, 5}, new double[] {1, 1, 1});
    for (String l : List.of("sigmoid", "discopop", "exo_pair", "orpo", "simpo", "nca_pair", "robust")) {
      out.add(Arguments.of("extreme " + l, LossSpec.builder(l).labelSmoothing(0.01f).build(), extreme));
    }
    return out.stream();
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("specs")
  void graphMatchesJava(String name, LossSpec spec, In in) {
    double[] got = graphLossAndGradient(spec, in);
    double want = javaTotal(spec, in);
    assertTrue(Double.isFinite(got[0]), "finite loss");
    assertEquals(want, got[0], 2e-6 * Math.max(1, Math.abs(want)), "loss");
    // Central differences of the Java loss in pi_c[i], pi_r[i] (double, relative step 1e-5).
    for (int i = 0; i < in.pc.length; i++) {
      double dc = derivative(spec, in, i, true);
      double dr = derivative(spec, in, i, false);
      assertTrue(Double.isFinite(got[1 + i]) && Double.isFinite(got[1 + in.pc.length + i]), "finite gradient");
      assertEquals(dc, got[1 + i], 1e-4 * Math.max(1, Math.abs(dc)), "d/d pi_c[" + i + "]");
      assertEquals(dr, got[1 + in.pc.length + i], 1e-4 * Math.max(1, Math.abs(dr)), "d/d pi_r[" + i + "]");
    }
  }

  @Test
  void handDerivedValues() {
    // Policy = reference (all log-ratios 0), one pair, n_c = n_r = 10, pi_c = pi_r = -20 (A = -2):
    In zero = new In(new double[] {-20}, new double[] {-20}, new double[] {-20}, new double[] {-20},
        new double[] {10}, new double[] {10}, new double[] {1});
    // sigmoid: -ls(0) = ln 2 = 0.693147
    assertEquals(Math.log(2), graphLossAndGradient(LossSpec.builder("sigmoid").build(), zero)[0], 1e-6);
    // kto_pair: KL = 0, 1 - s(0) = 0.5 on both halves -> 0.5
    assertEquals(0.5, graphLossAndGradient(LossSpec.builder("kto_pair").build(), zero)[0], 1e-6);
    // dpop: pi_c = ref_c, so the penalty is 0 -> ln 2
    assertEquals(Math.log(2), graphLossAndGradient(LossSpec.builder("dpop").build(), zero)[0], 1e-6);
    // simpo (g = 0.5): A_c = A_r -> -ls(-0.5) = softplus(0.5) = log(1 + e^0.5) = 0.974077
    assertEquals(0.974077, graphLossAndGradient(LossSpec.builder("simpo").build(), zero)[0], 1e-6);
    // orpo: lo = 0 -> ln 2; plus the SFT term at ratio 1: NLL = 20/10 = 2 -> 2.693147
    assertEquals(2.693147, graphLossAndGradient(LossSpec.builder("orpo").build(), zero)[0], 1e-6);
    // ipo (b = 0.1): (0 - 1/(2*0.1))^2 = 25; pref_ftx 0.5 adds 0.5 * -A_c = 0.5 * 2 = 1 -> 26
    assertEquals(26.0, graphLossAndGradient(LossSpec.builder("ipo").prefFtx(0.5f).build(), zero)[0], 1e-5);
    // pref_loss_ratio 0.5, sft_loss_ratio 0.25, rpo_alpha 0.25: 0.5 ln 2 + 0.5 * 2 = 1.346574
    assertEquals(1.346574, graphLossAndGradient(LossSpec.builder("sigmoid").prefLossRatio(0.5f)
        .sftLossRatio(0.25f).rpoAlpha(0.25f).build(), zero)[0], 1e-6);
    // DPOP with pi_c 1 nat below ref_c (pi_r = ref_r): d = -1, penalty 50 * 1 -> -ls(0.1*(-1 - 50))
    // = softplus(5.1) = 5.106069
    In below = zero.with(new double[] {-21}, new double[] {-20});
    assertEquals(5.106069, graphLossAndGradient(LossSpec.builder("dpop").build(), below)[0], 1e-5);
  }

  @Test
  void labelSmoothingHasOneRangeForEveryLossType() {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> LossSpec.builder("sigmoid").labelSmoothing(0.7f).build());
    assertTrue(e.getMessage().contains("label_smoothing must be in [0, 0.5), got 0.7"), e.getMessage());
    assertEquals(0.49f, LossSpec.builder("robust").labelSmoothing(0.49f).build().labelSmoothing());
  }

  @Test
  void invalidSpecsAreRejectedWithTheOptionNamed() {
    Map<String, Function<LossSpec.Builder, LossSpec.Builder>> bad = Map.of(
        "exo_pair: label_smoothing", b -> b.lossTypes(List.of("exo_pair")),
        "label_smoothing must be in [0, 0.5), got 0.5", b -> b.lossTypes(List.of("robust")).labelSmoothing(0.5f),
        "unknown loss_type 'dpo'", b -> b.lossTypes(List.of("dpo")),
        "loss_weights has 1 values for 2", b -> b.lossTypes(List.of("sigmoid", "sft")).lossWeights(List.of(1f)),
        "use_weighting (WPO) does not work with 'aot'", b -> b.lossTypes(List.of("aot")).useWeighting(true),
        "f_divergence_type 'js_divergence' applies to TRL's loss types only", b -> b.lossTypes(List.of("simpo"))
            .fDivergence("js_divergence"),
        "ld_alpha must be in [0, 1]", b -> b.ldAlpha(1.5f),
        "beta must be > 0", b -> b.beta(0f),
        "'sigmoid' is listed twice", b -> b.lossTypes(List.of("sigmoid", "sigmoid")),
        "unknown f_divergence_type", b -> b.fDivergence("kl"));
    bad.forEach((message, edit) -> {
      IllegalArgumentException e =
          assertThrows(IllegalArgumentException.class, () -> edit.apply(LossSpec.builder("sigmoid")).build());
      assertTrue(e.getMessage().contains(message), e.getMessage() + " should contain " + message);
    });
  }

  @Test
  void referenceFreeAndMetricNames() {
    assertTrue(LossSpec.builder("simpo").build().referenceFree());
    assertTrue(LossSpec.builder("or", "sft").build().referenceFree());
    assertTrue(!LossSpec.builder("simpo", "sigmoid").build().referenceFree());
    assertTrue(!LossSpec.builder("sft").build().referenceFree());
    assertEquals(List.of("orpo_loss", "sft_loss"), LossSpec.builder("or").build().metricNames());
    assertEquals(List.of("sigmoid_loss", "bco_pair_loss", "sft_loss"),
        LossSpec.builder("sigmoid", "bco_pair", "sft").rpoAlpha(1f).build().metricNames());
    assertEquals(List.of("ipo_loss", "ftx_loss"), LossSpec.builder("ipo").prefFtx(0.1f).build().metricNames());
    assertEquals(PreferenceLoss.AOT_UNPAIRED, PreferenceLoss.fromName("aot_pair"));
  }

  // ---- the graph side ----

  /** {loss, d/d pi_c[0..P), d/d pi_r[0..P)} from the graph. */
  static double[] graphLossAndGradient(LossSpec spec, In in) {
    try (Graph g = new Graph()) {
      Ops tf = Ops.create(g);
      List<Placeholder<TFloat32>> ph = new ArrayList<>();
      for (int k = 0; k < 7; k++) {
        ph.add(tf.placeholder(TFloat32.class));
      }
      PairLogProbs x = new PairLogProbs(ph.get(0), ph.get(1), ph.get(2), ph.get(3), ph.get(4), ph.get(5),
          ph.get(0), ph.get(6)); // no LD weighting here: the plain chosen sum is pi_c itself
      PreferenceObjective.Terms terms = PreferenceObjective.build(tf, spec, x);
      // "+ 0 * sum(pi_r)" keeps pi_r reachable for `sft` alone, which does not read it.
      Operand<TFloat32> reachable =
          tf.math.add(terms.total(), tf.math.mul(tf.constant(0f), tf.reduceSum(ph.get(1), tf.constant(0))));
      Gradients grad = tf.gradients(reachable, List.of(ph.get(0), ph.get(1)));
      double[][] values = {in.pc, in.pr, in.rc, in.rr, in.nc, in.nr, in.w};
      try (Session s = new Session(g)) {
        Session.Runner runner = s.runner();
        List<TFloat32> feeds = new ArrayList<>();
        for (int k = 0; k < 7; k++) {
          TFloat32 t = TFloat32.vectorOf(floats(values[k]));
          feeds.add(t);
          runner.feed(ph.get(k), t);
        }
        try (var out = runner.fetch(terms.total()).fetch(grad.dy(0)).fetch(grad.dy(1)).run()) {
          int p = in.pc.length;
          double[] r = new double[1 + 2 * p];
          r[0] = ((TFloat32) out.get(0)).getFloat();
          for (int i = 0; i < p; i++) {
            r[1 + i] = ((TFloat32) out.get(1)).getFloat(i);
            r[1 + p + i] = ((TFloat32) out.get(2)).getFloat(i);
          }
          return r;
        } finally {
          feeds.forEach(TFloat32::close);
        }
      }
    }
  }

  static float[] floats(double[] d) {
    float[] f = new float[d.length];
    for (int i = 0; i < d.length; i++) {
      f[i] = (float) d[i];
    }
    return f;
  }

  // ---- the plain-Java side, from docs/losses.md ----

  static double derivative(LossSpec spec, In in, int i, boolean chosen) {
    double[] plus = (chosen ? in.pc : in.pr).clone();
    double h = Math.max(1e-5 * Math.abs(plus[i]), 1e-9); // relative where |x| is small: ORPO is steep near 0
    double[] minus = plus.clone();
    plus[i] += h;
    minus[i] -= h;
    In up = chosen ? in.with(plus, in.pr) : in.with(in.pc, plus);
    In down = chosen ? in.with(minus, in.pr) : in.with(in.pc, minus);
    // kto_pair's reference points carry no gradient: keep them at the unperturbed values.
    return (javaTotal(spec, up, in) - javaTotal(spec, down, in)) / (2 * h);
  }

  static double javaTotal(LossSpec spec, In in) {
    return javaTotal(spec, in, in);
  }

  /** The total loss; {@code klFrom} supplies kto_pair's batch reference points. */
  static double javaTotal(LossSpec spec, In in, In klFrom) {
    int p = in.pc.length;
    double pref = 0;
    for (LossSpec.Component c : spec.components()) {
      double[] loss = javaPerPair(c.loss().configName(), spec, in, klFrom);
      double mean = 0;
      for (int i = 0; i < p; i++) {
        mean += in.w[i] * loss[i] / p;
      }
      pref += c.weight() * mean;
    }
    double ftx = 0;
    for (int i = 0; i < p; i++) {
      ftx += -in.pc[i] / in.nc[i] / p;
    }
    return spec.prefLossRatio() * pref + (spec.sftLossRatio() + spec.rpoAlpha()) * nll(in) + spec.prefFtx() * ftx;
  }

  static double nll(In in) {
    return -Arrays.stream(in.pc).sum() / Arrays.stream(in.nc).sum();
  }

  static double ls(double z) {
    return z >= 0 ? -Math.log1p(Math.exp(-z)) : z - Math.log1p(Math.exp(z));
  }

  static double sig(double z) {
    return 1 / (1 + Math.exp(-z));
  }

  static double score(LossSpec s, double r) {
    double a = s.fAlphaDivergenceCoef();
    return switch (s.fDivergence()) {
      case REVERSE_KL -> r;
      case FORWARD_KL -> -Math.exp(-r);
      case JS_DIVERGENCE -> ls(r);
      case ALPHA_DIVERGENCE -> Math.exp(Math.min((a - 1) * r, 80)) / (a - 1);
    };
  }

  static double log1mExp(double x) {
    return Math.log(-Math.expm1(x));
  }

  static double[] javaPerPair(String type, LossSpec s, In in, In klFrom) {
    int p = in.pc.length;
    double b = s.beta();
    double e = s.labelSmoothing();
    double[] out = new double[p];
    double[] dcAll = new double[p];
    double[] drAll = new double[p];
    for (int i = 0; i < p; i++) {
      dcAll[i] = in.pc[i] - in.rc[i];
      drAll[i] = in.pr[i] - in.rr[i];
    }
    double klC = 0;
    double klR = 0;
    for (int i = 0; i < p; i++) {
      klC += (klFrom.pc[i] - klFrom.rc[i]) / p;
      klR += (klFrom.pr[i] - klFrom.rr[i]) / p;
    }
    klC = Math.max(0, klC);
    klR = Math.max(0, klR);
    double[] sortedPolicy = new double[p];
    double[] sortedRef = new double[p];
    for (int i = 0; i < p; i++) {
      sortedPolicy[i] = type.equals("aot") ? in.pc[i] - in.pr[i] : dcAll[i];
      sortedRef[i] = type.equals("aot") ? in.rc[i] - in.rr[i] : drAll[i];
    }
    Arrays.sort(sortedPolicy);
    Arrays.sort(sortedRef);
    for (int i = 0; i < p; i++) {
      double dc = dcAll[i];
      double dr = drAll[i];
      double sc = score(s, dc);
      double sr = score(s, dr);
      double z = b * (sc - sr);
      double ac = in.pc[i] / in.nc[i];
      double ar = in.pr[i] / in.nr[i];
      out[i] = switch (type) {
        case "sigmoid" -> -(1 - e) * ls(z) - e * ls(-z);
        case "hinge" -> Math.max(0, 1 - z);
        case "ipo" -> Math.pow(sc / in.nc[i] - sr / in.nr[i] - 1 / (2 * b), 2);
        case "robust" -> (-(1 - e) * ls(z) + e * ls(-z)) / (1 - 2 * e);
        case "exo_pair" -> sig(z) * (ls(z) - Math.log(1 - e)) + sig(-z) * (ls(-z) - Math.log(e));
        case "nca_pair" -> -ls(b * sc) - 0.5 * ls(-b * sc) - 0.5 * ls(-b * sr);
        case "bco_pair" -> -ls(b * sc) - ls(-b * sr);
        case "sppo_hard" -> Math.pow(sc - 0.5 / b, 2) + Math.pow(sr + 0.5 / b, 2);
        case "aot", "aot_unpaired" -> {
          double d = b * (sortedPolicy[i] - sortedRef[i]);
          yield -(1 - e) * ls(d) - e * ls(-d);
        }
        case "apo_zero" -> 1 - sig(b * dc) + sig(b * dr);
        case "apo_down" -> sig(b * dc) + 1 - sig(z);
        case "discopop" -> {
          double m = sig(z / s.discopopTau());
          // m * exp(-z) written as exp(log m - z) to stay finite in double too
          yield (1 - m) * -ls(z) + Math.exp(ls(z / s.discopopTau()) - z);
        }
        case "sigmoid_norm" -> -ls(b * (sc / in.nc[i] - sr / in.nr[i]));
        case "sft" -> nll(in);
        case "kto_pair" -> 0.5 * (1 - sig(b * (dc - klR))) + 0.5 * (1 - sig(b * (klC - dr)));
        case "dpop" -> -ls(b * ((dc - dr) - s.dpopLambda() * Math.max(0, in.rc[i] - in.pc[i])));
        case "orpo" -> -ls((ac - ar) - (log1mExp(ac) - log1mExp(ar)));
        case "simpo" -> {
          double zz = b * (ac - ar) - s.simpoGamma();
          yield -(1 - e) * ls(zz) - e * ls(-zz);
        }
        default -> throw new IllegalArgumentException(type);
      };
    }
    return out;
  }
}
