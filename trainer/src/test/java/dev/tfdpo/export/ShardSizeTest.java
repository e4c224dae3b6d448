package dev.tfdpo.export;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** transformers' {@code convert_file_size_to_int} units, by hand. */
class ShardSizeTest {

  @Test
  void unitsAsTransformersReadsThem() {
    assertEquals(5_000_000_000L, ShardSize.parse(ShardSize.DEFAULT));
    assertEquals(200_000_000L, ShardSize.parse("200MB"));
    assertEquals(300_000L, ShardSize.parse("300KB"));
    assertEquals(2L * 1024 * 1024 * 1024, ShardSize.parse("2GiB"));
    assertEquals(10L * 1024 * 1024, ShardSize.parse("10MiB"));
    assertEquals(1_000_000_000_000L, ShardSize.parse("1TB"));
    assertEquals(123_456L, ShardSize.parse("123456"));
    assertEquals(42L, ShardSize.parse("42B"));
    assertEquals(5_000_000_000L, ShardSize.parse("5gB"), "the prefix is case-insensitive");
  }

  @ParameterizedTest
  @ValueSource(strings = {"", "GB", "5 GBs", "1.5GB", "-1GB", "0", "5XB", "99999999999999999999"})
  void malformedSizesAreRefused(String text) {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> ShardSize.parse(text));
    assertTrue(e.getMessage().contains("--max-shard-size"), e.getMessage());
  }

  @Test
  void lowercaseBitsAreRefusedWithTheByteSpelling() {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> ShardSize.parse("5Gb"));
    assertTrue(e.getMessage().contains("5GB"), e.getMessage());
  }
}
