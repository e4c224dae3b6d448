package dev.tfdpo.trainer;

import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/** The trainer's malloc_trim after step 1 reaches glibc through the JavaCPP this build ships. */
class NativeMemoryTest {

  @Test
  void trimIsReachable() {
    assertTrue(NativeMemory.available(), "JavaCPP's Pointer.trimMemory is gone: find another way to malloc_trim");
    NativeMemory.trim();
  }
}
