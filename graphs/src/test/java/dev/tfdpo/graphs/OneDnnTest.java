package dev.tfdpo.graphs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** TensorFlow 2.18's oneDNN rule (port.cc's default policy, then TF_ENABLE_ONEDNN_OPTS), case by case. */
class OneDnnTest {

  static final Set<String> AVX2 = Set.of("avx", "avx2", "fma");
  static final Set<String> AVX512 = Set.of("avx2", "avx512f", "avx512bw");
  static final Set<String> AVX512_BF16 = Set.of("avx2", "avx512f", "avx512_vnni", "avx512_bf16");
  static final Set<String> AMX = Set.of("avx2", "avx512f", "amx_tile", "amx_bf16", "amx_int8");

  @Test
  void defaultFollowsTheCpu() {
    assertFalse(OneDnn.decide(null, AVX2).on());
    assertFalse(OneDnn.decide(null, AVX512).on(), "plain AVX-512 without VNNI/BF16 stays off");
    OneDnn bf16 = OneDnn.decide(null, AVX512_BF16);
    assertTrue(bf16.on());
    assertTrue(bf16.nativeBf16());
    assertEquals("TensorFlow's default on a CPU with avx512_vnni, avx512_bf16", bf16.reason());
    assertTrue(OneDnn.decide(null, AMX).on());
    assertTrue(OneDnn.decide(null, Set.of("avx2", "avx_vnni")).on());
    assertFalse(OneDnn.decide(null, AVX2).nativeBf16());
  }

  @Test
  void environmentWins() {
    assertTrue(OneDnn.decide("1", AVX2).on());
    assertTrue(OneDnn.decide("true", AVX2).on());
    assertFalse(OneDnn.decide("0", AVX512_BF16).on());
    assertFalse(OneDnn.decide("false", AMX).on());
    OneDnn junk = OneDnn.decide("yes", AVX512_BF16);
    assertTrue(junk.on(), "TensorFlow keeps its default for a value it cannot read");
    assertTrue(junk.reason().contains("is not 0/1/true/false"), junk.reason());
    assertEquals("oneDNN: off (TF_ENABLE_ONEDNN_OPTS=0); force with TF_ENABLE_ONEDNN_OPTS=1. Results are the same"
        + " either way.", OneDnn.decide("0", AVX2).describe());
  }

  @Test
  void readsTheFirstProcessorsFlags(@TempDir Path dir) throws IOException {
    Path cpuinfo = dir.resolve("cpuinfo");
    Files.writeString(cpuinfo, "processor\t: 0\nmodel name\t: X\nflags\t\t: fpu avx2 avx512_bf16\n\n"
        + "processor\t: 1\nflags\t\t: fpu\n");
    assertEquals(Set.of("fpu", "avx2", "avx512_bf16"), OneDnn.cpuFlags(cpuinfo));
    assertEquals(Set.of(), OneDnn.cpuFlags(dir.resolve("missing")));
  }
}
