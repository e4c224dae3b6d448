package dev.tfdpo.io.safetensors;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class FloatFormatsTest {

  private static short bf16(float value) {
    return FloatFormats.toBFloat16(value);
  }

  private static float bits(int raw) {
    return Float.intBitsToFloat(raw);
  }

  @Test
  void bfloat16RoundsToNearestEven() {
    assertEquals((short) 0x3F80, bf16(1.0f));
    // 0x3F808000 lies halfway between 0x3F80 and 0x3F81: the even one wins.
    assertEquals((short) 0x3F80, bf16(bits(0x3F80_8000)));
    assertEquals((short) 0x3F82, bf16(bits(0x3F81_8000)));
    assertEquals((short) 0x3F81, bf16(bits(0x3F80_8001)));
    assertEquals((short) 0x3F80, bf16(bits(0x3F80_7FFF)));
    assertEquals((short) 0xC049, bf16(-3.14159265f));
  }

  @Test
  void bfloat16SpecialValues() {
    assertEquals((short) 0x8000, bf16(-0.0f));
    assertEquals((short) 0x0000, bf16(0.0f));
    assertEquals((short) 0x7F80, bf16(Float.POSITIVE_INFINITY));
    assertEquals((short) 0xFF80, bf16(Float.NEGATIVE_INFINITY));
    assertEquals((short) 0x7F80, bf16(Float.MAX_VALUE), "the largest float rounds up to infinity");
    assertEquals(FloatFormats.BF16_NAN, bf16(Float.NaN));
    assertEquals(FloatFormats.BF16_NAN, bf16(bits(0xFFC0_0001)), "negative NaN with payload");
    assertEquals(FloatFormats.BF16_NAN, bf16(bits(0x7F80_0001)), "signalling NaN must not become infinity");
    // Subnormals keep rounding to nearest even.
    assertEquals((short) 0x0000, bf16(bits(0x0000_8000)));
    assertEquals((short) 0x0002, bf16(bits(0x0001_8000)));
    assertEquals((short) 0x0001, bf16(bits(0x0001_0001)));
    assertEquals((short) 0x0080, bf16(bits(0x007F_FFFF)), "largest subnormal rounds to the smallest normal");
  }

  @Test
  void everyBFloat16SurvivesTheRoundTrip() {
    for (int raw = 0; raw <= 0xFFFF; raw++) {
      short half = (short) raw;
      float widened = FloatFormats.fromBFloat16(half);
      if (Float.isNaN(widened)) {
        assertTrue(Float.isNaN(FloatFormats.roundToBFloat16(widened)));
      } else {
        assertEquals(half, bf16(widened), () -> Integer.toHexString(half & 0xFFFF));
      }
    }
  }

  @Test
  void float16KnownValuesMatchNumpy() {
    // Expected bits from numpy's float32 -> float16 cast, which rounds to nearest even.
    float[] inputs = {
      1.0f, -2.0f, 65504.0f, 0x1.ffdffap+15f, 65520.0f, 0x1.555556p-2f, 0x1p-24f, 0x1p-25f, 0x1.8p-25f,
      0x1.000002p-25f, 0x1.99999ap-4f, 0x1p-14f, 0x1.ffcp-15f, 0x1.8p-24f, 0x1.4p-23f, 0x1.5798eep-27f,
      0x1.002p+0f, 0x1.006p+0f, 100000.0f, -0.0f, Float.POSITIVE_INFINITY, 0x1.f75104p-15f, 0x1.0624dep-10f
    };
    int[] expected = {
      0x3c00, 0xc000, 0x7bff, 0x7bff, 0x7c00, 0x3555, 0x1, 0x0, 0x1, 0x1, 0x2e66, 0x400, 0x400, 0x2, 0x2, 0x0,
      0x3c00, 0x3c02, 0x7c00, 0x8000, 0x7c00, 0x3ef, 0x1419
    };
    for (int i = 0; i < inputs.length; i++) {
      int actual = FloatFormats.toFloat16(inputs[i]) & 0xFFFF;
      assertEquals(expected[i], actual, "float16 of " + Float.toHexString(inputs[i]));
    }
    assertEquals((short) 0xFC00, FloatFormats.toFloat16(Float.NEGATIVE_INFINITY));
    assertEquals((short) 0x7E00, FloatFormats.toFloat16(Float.NaN));
    assertEquals((short) 0xFE00, FloatFormats.toFloat16(bits(0xFFC0_0001)));
  }

  @Test
  void float16WideningIsExact() {
    assertEquals(0x1p-24f, FloatFormats.fromFloat16((short) 0x0001));
    assertEquals(-0x1.ff8p-15f, FloatFormats.fromFloat16((short) 0x83FF));
    assertEquals(65504.0f, FloatFormats.fromFloat16((short) 0x7BFF));
    assertEquals(0x1.998p-4f, FloatFormats.fromFloat16((short) 0x2E66));
    float negativeZero = FloatFormats.fromFloat16((short) 0x8000);
    assertEquals(Float.floatToRawIntBits(-0.0f), Float.floatToRawIntBits(negativeZero));
    assertEquals(Float.NEGATIVE_INFINITY, FloatFormats.fromFloat16((short) 0xFC00));
    assertTrue(Float.isNaN(FloatFormats.fromFloat16((short) 0x7E00)));
  }

  @Test
  void everyFloat16SurvivesTheRoundTrip() {
    for (int raw = 0; raw <= 0xFFFF; raw++) {
      short half = (short) raw;
      float widened = FloatFormats.fromFloat16(half);
      if (Float.isNaN(widened)) {
        assertTrue(Float.isNaN(FloatFormats.fromFloat16(FloatFormats.toFloat16(widened))));
      } else {
        assertEquals(half, FloatFormats.toFloat16(widened), () -> Integer.toHexString(half & 0xFFFF));
      }
    }
  }
}
