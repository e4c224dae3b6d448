package dev.tfdpo.report;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;

class ComparisonTest {

  private static final double EPS = 1e-12;

  private static RunCurves run(String name, String metric, double... values) {
    RunCurves curves = new RunCurves(Path.of(name), "test");
    for (int i = 0; i < values.length; i++) {
      curves.put(metric, i + 1, values[i]);
    }
    return curves;
  }

  @Test
  void deviationsOnAHandMadeLossCurve() {
    // step:          1      2       3
    // A:             0.70   0.60    0.50
    // B:             0.70   0.6002  0.49995
    // |A-B|:         0      2e-4    5e-5          -> max 2e-4 at step 2
    // |A-B|/max:     0      2e-4/0.6002 = 3.33222e-4, 5e-5/0.5 = 1e-4 -> max 3.33222e-4 at step 2
    // loss default abs 1e-4: step 2 fails (2e-4 > 1e-4), step 3 passes (5e-5)
    RunCurves a = run("a", "loss", 0.70, 0.60, 0.50);
    RunCurves b = run("b", "loss", 0.70, 0.6002, 0.49995);
    MetricComparison m = MetricComparison.of("loss", a, b, Tolerance.defaultFor("loss"));
    assertEquals(3, m.commonSteps());
    assertEquals(2e-4, m.maxAbsDeviation(), EPS);
    assertEquals(2, m.maxAbsStep());
    assertEquals(3.33222e-4, m.maxRelDeviation(), 1e-9);
    assertEquals(2, m.maxRelStep());
    assertEquals(1, m.failingSteps());
    assertEquals(2, m.firstFailingStep());
    assertFalse(m.passed());
  }

  @Test
  void maxAbsAndMaxRelCanSitAtDifferentSteps() {
    // step:      1       2
    // A:         100.0   0.010
    // B:         100.5   0.011
    // |A-B|:     0.5     0.001   -> max abs 0.5 at step 1
    // rel:       0.5/100.5 = 4.97512e-3, 0.001/0.011 = 9.09091e-2 -> max rel at step 2
    RunCurves a = run("a", "grad_norm", 100.0, 0.010);
    RunCurves b = run("b", "grad_norm", 100.5, 0.011);
    MetricComparison m = MetricComparison.of("grad_norm", a, b, new Tolerance(0, 0.1));
    assertEquals(0.5, m.maxAbsDeviation(), EPS);
    assertEquals(1, m.maxAbsStep());
    assertEquals(0.001 / 0.011, m.maxRelDeviation(), EPS);
    assertEquals(2, m.maxRelStep());
    assertTrue(m.passed(), "both within rel 0.1");
  }

  @Test
  void eitherLimitIsEnough() {
    Tolerance tolerance = new Tolerance(1e-5, 1e-3);
    // |Δ| = 5e-6 <= 1e-5 although rel = 5e-6/1e-5 = 0.5: passes by the absolute limit.
    assertTrue(tolerance.accepts(1.0e-5, 1.5e-5));
    // |Δ| = 0.01 > 1e-5 but rel = 0.01/100 = 1e-4 <= 1e-3: passes by the relative limit.
    assertTrue(tolerance.accepts(100.0, 100.01));
    // |Δ| = 0.002, rel = 0.002/1.002 = 1.996e-3: fails both.
    assertFalse(tolerance.accepts(1.0, 1.002));
    assertEquals(0.0, Tolerance.relativeDeviation(0.0, 0.0));
    assertEquals(1.0, Tolerance.relativeDeviation(0.0, 1e-9), EPS);
  }

  @Test
  void defaultTolerances() {
    assertEquals(new Tolerance(1e-4, 0), Tolerance.defaultFor("loss"));
    assertEquals(new Tolerance(0, 1e-3), Tolerance.defaultFor("learning_rate"));
    assertEquals(new Tolerance(2e-5, 1e-3), Tolerance.defaultFor("grad_norm"));
    assertEquals(new Tolerance(2e-5, 1e-3), Tolerance.defaultFor("rewards/margins"));
    assertEquals("abs 1e-04", Tolerance.LOSS.describe());
    assertEquals("abs 2e-05 or rel 1e-03", Tolerance.OTHER.describe());
  }

  @Test
  void toleranceOption() {
    Tolerances single = Tolerances.parse("1e-3");
    assertEquals(new Tolerance(1e-3, 1e-3), single.forMetric("loss"));
    assertEquals(new Tolerance(1e-3, 1e-3), single.forMetric("rewards/chosen"));

    Tolerances named = Tolerances.parse("loss=1e-4, train/grad_norm=rel:1e-2,rewards/*=abs:1e-6+rel:1e-4");
    assertEquals(new Tolerance(1e-4, 1e-4), named.forMetric("loss"));
    assertEquals(new Tolerance(0, 1e-2), named.forMetric("grad_norm"));
    assertEquals(new Tolerance(1e-6, 1e-4), named.forMetric("rewards/margins"));
    assertEquals(Tolerance.LEARNING_RATE, named.forMetric("learning_rate"), "unnamed keep the default");

    Tolerances overridden = Tolerances.parse("1e-2,loss=abs:1e-5");
    assertEquals(new Tolerance(1e-5, 0), overridden.forMetric("loss"));
    assertEquals(new Tolerance(1e-2, 1e-2), overridden.forMetric("logps/chosen"));
    assertEquals(new Tolerance(1e3, 1e3), Tolerances.parse("1e+3").forMetric("loss"));
  }

  @Test
  void badToleranceOptions() {
    for (String bad : List.of("loss=", "loss=abc", "loss=-1", "x=rel:", "loss=1e-4+2e-4", "loss=NaN")) {
      ReportInputException error = assertThrows(ReportInputException.class, () -> Tolerances.parse(bad),
          bad);
      assertTrue(error.getMessage().contains("--tolerance entry"), error.getMessage());
    }
  }

  @Test
  void defaultMetricsAreTheCommonOnes() {
    RunCurves a = run("a", "loss", 1, 2);
    a.put("rewards/chosen", 1, 0.1);
    a.put("logits/chosen", 1, 0.1);
    a.put("grad_norm", 1, 3);
    RunCurves b = run("b", "loss", 1, 2);
    b.put("rewards/chosen", 1, 0.1);
    b.put("logits/chosen", 1, 0.1);
    RunComparison comparison = RunComparison.compare(a, b, List.of(), Tolerances.defaults());
    assertEquals(List.of("loss", "rewards/chosen"),
        comparison.metrics().stream().map(MetricComparison::metric).toList());
    assertTrue(comparison.passed());
  }

  @Test
  void requestedMetricMissingFromOneRun() {
    RunCurves a = run("a", "loss", 1, 2);
    RunCurves b = run("b", "loss", 1, 2);
    a.put("grad_norm", 1, 3);
    ReportInputException error = assertThrows(ReportInputException.class, () -> RunComparison.compare(
        a, b, List.of(MetricPattern.parse("train/grad_norm")), Tolerances.defaults()));
    assertTrue(error.getMessage().contains("metric grad_norm is not in run B"), error.getMessage());
  }

  @Test
  void toleranceForAMetricNotCompared() {
    RunCurves a = run("a", "loss", 1, 2);
    RunCurves b = run("b", "loss", 1, 2);
    ReportInputException error = assertThrows(ReportInputException.class,
        () -> RunComparison.compare(a, b, List.of(), Tolerances.parse("gradnorm=1e-3")));
    assertTrue(error.getMessage().contains("[gradnorm]"), error.getMessage());
  }

  @Test
  void noCommonSteps() {
    RunCurves a = run("a", "loss", 1, 2);
    RunCurves b = new RunCurves(Path.of("b"), "test");
    b.put("loss", 10, 1);
    ReportInputException error = assertThrows(ReportInputException.class,
        () -> RunComparison.compare(a, b, List.of(), Tolerances.defaults()));
    assertTrue(error.getMessage().contains("no common steps"), error.getMessage());
  }

  @Test
  void nanInACompareMetric() {
    RunCurves a = run("a", "loss", 1, Double.NaN);
    RunCurves b = run("b", "loss", 1, 2);
    ReportInputException error = assertThrows(ReportInputException.class,
        () -> RunComparison.compare(a, b, List.of(), Tolerances.defaults()));
    assertTrue(error.getMessage().contains("metric loss is NaN at step 2 in run A"), error.getMessage());
  }

  @Test
  void stepsOnOneSideOnlyAreCountedNotCompared() {
    RunCurves a = run("a", "loss", 1, 2, 3);
    RunCurves b = run("b", "loss", 1, 2);
    MetricComparison m = MetricComparison.of("loss", a, b, Tolerance.LOSS);
    assertEquals(2, m.commonSteps());
    assertEquals(1, m.onlyInA());
    assertEquals(0, m.onlyInB());
    assertTrue(m.passed());
  }
}
