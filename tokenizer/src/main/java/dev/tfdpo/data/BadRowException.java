package dev.tfdpo.data;

/** Thrown inside the pipeline when one row is unusable; the loader adds file and line. */
final class BadRowException extends RuntimeException {

  private final String rule;

  /**
   * @param rule short category for the summary (e.g. {@code missing_field})
   * @param reason the full explanation shown to the user
   */
  BadRowException(String rule, String reason) {
    super(reason, null, false, false);
    this.rule = rule;
  }

  String rule() {
    return rule;
  }
}
