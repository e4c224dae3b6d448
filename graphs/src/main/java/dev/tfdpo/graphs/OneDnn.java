package dev.tfdpo.graphs;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.TreeSet;

/**
 * Whether TensorFlow runs its oneDNN kernels in this process, and why, for the start-up line.
 *
 * <p>TensorFlow 2.18 decides once, when it loads: {@code TF_ENABLE_ONEDNN_OPTS} set to 1/true or 0/false
 * wins; unset (or anything else), Linux x86 builds turn oneDNN on for CPUs with AVX-512 VNNI, AVX-512
 * BF16, AVX-VNNI or AMX, and leave it off otherwise (AVX2-only CPUs). This class repeats that rule from
 * the environment and {@code /proc/cpuinfo}; it changes nothing. Results are the same either way
 * ({@link Sessions#config}); oneDNN is the faster kernel set where TensorFlow enables it.
 *
 * @param on whether oneDNN is on
 * @param reason why: the environment variable, or the CPU features that decided
 * @param nativeBf16 whether the CPU multiplies bfloat16 natively (AVX-512 BF16 or AMX BF16)
 */
public record OneDnn(boolean on, String reason, boolean nativeBf16) {

  /** The environment variable TensorFlow reads. */
  public static final String ENV = "TF_ENABLE_ONEDNN_OPTS";

  /** {@code /proc/cpuinfo} flags that make TensorFlow 2.18 turn oneDNN on by default. */
  static final List<String> DEFAULT_ON_FLAGS =
      List.of("avx512_vnni", "avx512_bf16", "avx_vnni", "amx_tile", "amx_int8", "amx_bf16");

  /** This process's mode. */
  public static OneDnn detect() {
    return decide(System.getenv(ENV), cpuFlags(Path.of("/proc/cpuinfo")));
  }

  /** TensorFlow's rule for an environment value (null = unset) and a set of CPU flags. */
  static OneDnn decide(String env, Set<String> flags) {
    boolean nativeBf16 = flags.contains("avx512_bf16") || flags.contains("amx_bf16");
    String value = env == null ? "" : env.trim().toLowerCase(Locale.ROOT);
    if (value.equals("1") || value.equals("true")) {
      return new OneDnn(true, ENV + "=" + env, nativeBf16);
    }
    if (value.equals("0") || value.equals("false")) {
      return new OneDnn(false, ENV + "=" + env, nativeBf16);
    }
    List<String> present = new ArrayList<>();
    for (String flag : DEFAULT_ON_FLAGS) {
      if (flags.contains(flag)) {
        present.add(flag);
      }
    }
    String unset = env == null ? "" : " (" + ENV + "=" + env + " is not 0/1/true/false)";
    return present.isEmpty()
        ? new OneDnn(false, "TensorFlow's default on a CPU without AVX-512 VNNI/BF16, AVX-VNNI or AMX" + unset, nativeBf16)
        : new OneDnn(true, "TensorFlow's default on a CPU with " + String.join(", ", present) + unset, nativeBf16);
  }

  /** The flags of the first processor in a {@code /proc/cpuinfo} file; empty where it cannot be read. */
  static Set<String> cpuFlags(Path cpuinfo) {
    Set<String> flags = new TreeSet<>();
    try {
      for (String line : Files.readAllLines(cpuinfo)) {
        if (line.startsWith("flags")) {
          int colon = line.indexOf(':');
          for (String f : line.substring(colon + 1).trim().split("\\s+")) {
            flags.add(f);
          }
          break;
        }
      }
    } catch (IOException | RuntimeException e) {
      // Not Linux, or no procfs: TensorFlow's own default is then unknown here; report no features.
    }
    return flags;
  }

  /** One line for the console: the mode, why, and how to force the other way. */
  public String describe() {
    return String.format("oneDNN: %s (%s); force with %s=%d. Results are the same either way.",
        on ? "on" : "off", reason, ENV, on ? 0 : 1);
  }
}
