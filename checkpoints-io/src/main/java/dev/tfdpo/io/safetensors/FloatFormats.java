package dev.tfdpo.io.safetensors;

/**
 * Conversions between {@code float} and the 16-bit formats bfloat16 and IEEE half precision, bit-exact with
 * PyTorch's scalar conversions ({@code c10::BFloat16}, {@code c10::Half}): round to nearest, ties to even.
 * Widening to float is exact for both formats. (Java 17 has no {@code Float.floatToFloat16}; it came in 20.)
 */
public final class FloatFormats {

  /** The NaN PyTorch's scalar path produces for every float NaN. */
  public static final short BF16_NAN = (short) 0x7FC0;

  private static final int FLOAT_SIGN = 0x8000_0000;
  private static final int FLOAT_ABS = 0x7FFF_FFFF;
  private static final int FLOAT_INF = 0x7F80_0000;
  /** 65520: the smallest float that rounds to half-precision infinity. */
  private static final int HALF_OVERFLOW = 0x477F_F000;
  /** 2^-14: the smallest normal half. */
  private static final int HALF_MIN_NORMAL = 0x3880_0000;
  /** 2^-25: at or below it a float rounds to a half zero. */
  private static final int HALF_UNDERFLOW = 0x3300_0000;
  /** Difference of the exponent biases (127 - 15), placed in the float exponent field. */
  private static final int REBIAS = 112 << 23;

  private FloatFormats() {}

  /** The bfloat16 bits nearest to {@code value} (ties to even); every NaN becomes {@link #BF16_NAN}. */
  public static short toBFloat16(float value) {
    if (Float.isNaN(value)) {
      return BF16_NAN;
    }
    int bits = Float.floatToRawIntBits(value);
    int lowestKeptBit = (bits >>> 16) & 1;
    int roundingBias = 0x7FFF + lowestKeptBit;
    return (short) ((bits + roundingBias) >>> 16);
  }

  /** The float whose value equals the bfloat16 {@code bits}. */
  public static float fromBFloat16(short bits) {
    return Float.intBitsToFloat((bits & 0xFFFF) << 16);
  }

  /** {@code value} rounded to the nearest bfloat16, as a float. */
  public static float roundToBFloat16(float value) {
    return fromBFloat16(toBFloat16(value));
  }

  /** The half-precision bits nearest to {@code value} (ties to even, overflow to infinity). */
  public static short toFloat16(float value) {
    int bits = Float.floatToRawIntBits(value);
    int sign = (bits & FLOAT_SIGN) >>> 16;
    int abs = bits & FLOAT_ABS;
    if (abs > FLOAT_INF) {
      // c10::Half drops the payload and keeps the sign.
      return (short) (sign | 0x7E00);
    }
    if (abs >= HALF_OVERFLOW) {
      return (short) (sign | 0x7C00);
    }
    if (abs >= HALF_MIN_NORMAL) {
      int lowestKeptBit = (abs >>> 13) & 1;
      int rounded = abs + 0x0FFF + lowestKeptBit;
      return (short) (sign | ((rounded - REBIAS) >>> 13));
    }
    if (abs <= HALF_UNDERFLOW) {
      return (short) sign;
    }
    return (short) (sign | subnormalHalfMantissa(abs));
  }

  /** The float whose value equals the half-precision {@code bits}. */
  public static float fromFloat16(short bits) {
    int half = bits & 0xFFFF;
    int sign = (half & 0x8000) << 16;
    int exponent = (half >>> 10) & 0x1F;
    int mantissa = half & 0x3FF;
    if (exponent == 0x1F) {
      return Float.intBitsToFloat(sign | FLOAT_INF | (mantissa << 13));
    }
    if (exponent == 0) {
      // Subnormal halves are mantissa * 2^-24, all exactly representable as normal floats.
      float magnitude = Math.scalb((float) mantissa, -24);
      return sign == 0 ? magnitude : -magnitude;
    }
    return Float.intBitsToFloat(sign | ((exponent << 23) + REBIAS) | (mantissa << 13));
  }

  /**
   * Mantissa of the subnormal half nearest to a float in (2^-25, 2^-14): the value is {@code m * 2^-24}, so
   * the float's 24-bit significand is shifted right by {@code 126 - exponent} with ties to even. A result of
   * 1024 is the smallest normal half, which the same bit pattern encodes.
   */
  private static int subnormalHalfMantissa(int abs) {
    int exponent = abs >>> 23;
    int significand = (abs & 0x7F_FFFF) | 0x80_0000;
    int shift = 126 - exponent;
    int halfway = 1 << (shift - 1);
    int remainder = significand & ((1 << shift) - 1);
    int mantissa = significand >>> shift;
    boolean roundUp = remainder > halfway || (remainder == halfway && (mantissa & 1) == 1);
    return roundUp ? mantissa + 1 : mantissa;
  }
}
