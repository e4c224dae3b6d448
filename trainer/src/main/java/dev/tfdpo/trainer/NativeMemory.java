package dev.tfdpo.trainer;

import java.lang.reflect.Method;

/** The process's native heap (glibc malloc), outside TensorFlow's tensor pool. */
final class NativeMemory {

  private static final Method TRIM = trimMethod();

  private NativeMemory() {}

  /**
   * Gives malloc's freed pages back to the system ({@code malloc_trim(0)}, through JavaCPP, which
   * TensorFlow Java loads anyway; its method is private, hence reflection). Freed memory inside glibc's
   * arenas stays resident otherwise, and building a step's executors (Grappler's copies of the graph)
   * frees a lot of it. A no-op where JavaCPP lacks the method.
   */
  static void trim() {
    if (TRIM == null) {
      return;
    }
    try {
      TRIM.invoke(null);
    } catch (ReflectiveOperationException | RuntimeException e) {
      // Nothing is lost but the pages: keep training.
    }
  }

  /** Whether {@link #trim} reaches malloc_trim (JavaCPP has the method). */
  static boolean available() {
    return TRIM != null;
  }

  private static Method trimMethod() {
    try {
      Method m = org.bytedeco.javacpp.Pointer.class.getDeclaredMethod("trimMemory");
      m.setAccessible(true);
      return m;
    } catch (ReflectiveOperationException | RuntimeException e) {
      return null;
    }
  }
}
