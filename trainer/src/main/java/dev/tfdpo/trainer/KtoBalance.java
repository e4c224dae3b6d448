package dev.tfdpo.trainer;

/**
 * TRL's KTOTrainer check of the class weights against the class balance (KTO paper, arXiv:2402.01306,
 * eq. 8): with D desirable and U undesirable rows (each at least 1), it recommends either
 * {@code desirable_weight} in {@code [U*uw/D, 1.33*U*uw/D]} or {@code undesirable_weight} in
 * {@code [D*dw/U/1.33, D*dw/U]}, bounds rounded to 2 decimals, and warns when neither holds.
 */
final class KtoBalance {

  private KtoBalance() {}

  /** The warning, or null when the classes are balanced or a weight is in its range. */
  static String warning(int desirableRows, int undesirableRows, double desirableWeight, double undesirableWeight) {
    double d = Math.max(desirableRows, 1);
    double u = Math.max(undesirableRows, 1);
    if (d == u) {
      return null;
    }
    double dLow = round2(u * undesirableWeight / d);
    double dHigh = round2(u * undesirableWeight / d * 1.33);
    double uLow = round2(d * desirableWeight / u / 1.33);
    double uHigh = round2(d * desirableWeight / u);
    boolean desirableOk = dLow <= desirableWeight && desirableWeight <= dHigh;
    boolean undesirableOk = uLow <= undesirableWeight && undesirableWeight <= uHigh;
    if (desirableOk || undesirableOk) {
      return null;
    }
    return String.format("the data has %d desirable and %d undesirable rows but desirable_weight %s and"
        + " undesirable_weight %s are outside the range TRL recommends: either desirable_weight in [%s, %s] or"
        + " undesirable_weight in [%s, %s] (but not both)", desirableRows, undesirableRows, desirableWeight,
        undesirableWeight, dLow, dHigh, uLow, uHigh);
  }

  /** Python's {@code round(x, 2)} for the positive values here (half-even on the exact binary value). */
  private static double round2(double x) {
    return new java.math.BigDecimal(x).setScale(2, java.math.RoundingMode.HALF_EVEN).doubleValue();
  }
}
