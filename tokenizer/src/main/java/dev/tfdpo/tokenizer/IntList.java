package dev.tfdpo.tokenizer;

import java.util.Arrays;

/** A growable {@code int[]}, to avoid boxing token ids. */
public final class IntList {

  private int[] data = new int[16];
  private int size;

  /** Appends one value. */
  public void add(int v) {
    if (size == data.length) {
      data = Arrays.copyOf(data, size * 2);
    }
    data[size++] = v;
  }

  /** Appends all of {@code vs}. */
  public void addAll(int[] vs) {
    if (size + vs.length > data.length) {
      data = Arrays.copyOf(data, Math.max(size * 2, size + vs.length));
    }
    System.arraycopy(vs, 0, data, size, vs.length);
    size += vs.length;
  }

  /** The value at {@code i}. */
  public int get(int i) {
    return data[i];
  }

  /** Number of values. */
  public int size() {
    return size;
  }

  /** A copy of the values. */
  public int[] toArray() {
    return Arrays.copyOf(data, size);
  }
}
