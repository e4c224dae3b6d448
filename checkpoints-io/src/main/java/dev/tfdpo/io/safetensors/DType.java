package dev.tfdpo.io.safetensors;

import java.util.Arrays;
import java.util.Optional;
import java.util.stream.Collectors;

/** Element types this project reads from safetensors files, under their safetensors names. */
public enum DType {
  F32(4, true),
  F16(2, true),
  BF16(2, true),
  F64(8, true),
  I64(8, false),
  I32(4, false),
  I16(2, false),
  I8(1, false),
  U8(1, false),
  BOOL(1, false);

  private final int byteSize;
  private final boolean floatingPoint;

  DType(int byteSize, boolean floatingPoint) {
    this.byteSize = byteSize;
    this.floatingPoint = floatingPoint;
  }

  /** Bytes per element. */
  public int byteSize() {
    return byteSize;
  }

  /** The {@code dtype} string in a safetensors header. */
  public String safetensorsName() {
    // The enum constants are spelled exactly as the format spells them.
    return name();
  }

  /** True for F32, F16, BF16 and F64, the types {@link SafeTensorsReader#readFloats} accepts. */
  public boolean isFloatingPoint() {
    return floatingPoint;
  }

  /** The type whose safetensors name is {@code name} (case-sensitive, as the format is). */
  public static Optional<DType> fromSafetensorsName(String name) {
    for (DType type : values()) {
      if (type.safetensorsName().equals(name)) {
        return Optional.of(type);
      }
    }
    return Optional.empty();
  }

  /** The supported names, comma-separated, for error messages. */
  static String supportedNames() {
    return Arrays.stream(values()).map(DType::safetensorsName).collect(Collectors.joining(", "));
  }
}
