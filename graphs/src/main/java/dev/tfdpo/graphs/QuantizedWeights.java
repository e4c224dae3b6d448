package dev.tfdpo.graphs;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.tensorflow.Operand;
import org.tensorflow.Session;
import org.tensorflow.Tensor;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.ndarray.buffer.DataBuffers;
import org.tensorflow.op.Op;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Placeholder;
import org.tensorflow.op.core.Variable;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt32;
import org.tensorflow.types.TUint8;

/**
 * A frozen base's projection weights stored quantized in graph variables and dequantized inside the
 * graph at each use ({@code weight_quantize_algo}); the float32 weight never exists as a variable.
 *
 * <ul>
 *   <li>{@link Algo#WEIGHT_ONLY_INT8}: per output channel {@code scale = absmax / 127}, {@code q =
 *       round(w / scale)} in [-127, 127], stored as the byte {@code q + 128}; {@code w ~ (byte - 128) *
 *       scale}. Error per weight at most {@code scale / 2 = absmax / 254}.
 *   <li>{@link Algo#NF4}: QLoRA's 4-bit NormalFloat: blocks of {@link #NF4_BLOCK} consecutive weights
 *       (row-major), each scaled by its float32 absmax to [-1, 1] and rounded to the nearest of the 16
 *       {@link #NF4_CODEBOOK} values; two codes per byte, the even element in the high nibble.
 *       {@code w ~ codebook[code] * absmax}. Error per weight at most {@code absmax * 0.3038 / 2}
 *       (half the widest codebook gap, between -1 and -0.696).
 * </ul>
 */
public final class QuantizedWeights {

  /** The algorithms, by their PaddleNLP names. */
  public enum Algo {
    WEIGHT_ONLY_INT8("weight_only_int8"),
    NF4("nf4");

    private final String configName;

    Algo(String configName) {
      this.configName = configName;
    }

    /** The config spelling. */
    public String configName() {
      return configName;
    }

    /** The algorithm called {@code name}; unknown names are an error listing the valid ones. */
    public static Algo byName(String name) {
      for (Algo a : values()) {
        if (a.configName.equals(name)) {
          return a;
        }
      }
      throw new IllegalArgumentException("unknown weight_quantize_algo '" + name + "'; valid: weight_only_int8, nf4");
    }
  }

  /** QLoRA's NF4 code values (bitsandbytes' table), ascending. */
  public static final float[] NF4_CODEBOOK = {
    -1.0f, -0.6961928009986877f, -0.5250730514526367f, -0.39491748809814453f, -0.28444138169288635f,
    -0.18477343022823334f, -0.09105003625154495f, 0.0f, 0.07958029955625534f, 0.16093020141124725f,
    0.24611230194568634f, 0.33791524171829224f, 0.44070982933044434f, 0.5626170039176941f,
    0.7229568362236023f, 1.0f};

  /** NF4 block size (weights per absmax). */
  public static final int NF4_BLOCK = 64;

  /** Whether {@code hfName} is a projection weight that a quantized base stores quantized. */
  public static boolean quantizes(String hfName) {
    return hfName.startsWith("model.layers.") && hfName.endsWith("_proj.weight");
  }

  /**
   * One quantized weight in Java: {@code codes} (int8: one byte per weight; nf4: two codes per byte) and
   * {@code scales} (int8: one per output row; nf4: one absmax per block).
   */
  public record Quantized(byte[] codes, float[] scales) {}

  /** Quantizes {@code w [out, in]} (row-major). */
  public static Quantized quantize(Algo algo, float[] w, int out, int in) {
    return algo == Algo.WEIGHT_ONLY_INT8 ? int8(w, out, in) : nf4(w);
  }

  private static Quantized int8(float[] w, int out, int in) {
    byte[] codes = new byte[w.length];
    float[] scales = new float[out];
    for (int o = 0; o < out; o++) {
      float absmax = 0;
      for (int i = 0; i < in; i++) {
        absmax = Math.max(absmax, Math.abs(w[o * in + i]));
      }
      float scale = absmax / 127f;
      scales[o] = scale;
      for (int i = 0; i < in; i++) {
        int q = scale == 0 ? 0 : Math.round(w[o * in + i] / scale);
        codes[o * in + i] = (byte) (Math.max(-127, Math.min(127, q)) + 128);
      }
    }
    return new Quantized(codes, scales);
  }

  private static Quantized nf4(float[] w) {
    if (w.length % NF4_BLOCK != 0) {
      throw new IllegalArgumentException("nf4 needs weights in blocks of " + NF4_BLOCK + "; got " + w.length);
    }
    float[] absmax = new float[w.length / NF4_BLOCK];
    byte[] codes = new byte[w.length / 2];
    for (int b = 0; b < absmax.length; b++) {
      float m = 0;
      for (int i = b * NF4_BLOCK; i < (b + 1) * NF4_BLOCK; i++) {
        m = Math.max(m, Math.abs(w[i]));
      }
      absmax[b] = m;
      for (int i = b * NF4_BLOCK; i < (b + 1) * NF4_BLOCK; i++) {
        int code = nearest(m == 0 ? 0 : w[i] / m);
        codes[i / 2] |= (byte) (i % 2 == 0 ? code << 4 : code);
      }
    }
    return new Quantized(codes, absmax);
  }

  /** Index of the codebook value nearest to {@code x} (ties to the lower one). */
  static int nearest(float x) {
    int best = 0;
    for (int k = 1; k < NF4_CODEBOOK.length; k++) {
      if (Math.abs(NF4_CODEBOOK[k] - x) < Math.abs(NF4_CODEBOOK[best] - x)) {
        best = k;
      }
    }
    return best;
  }

  /** The Java dequantization (tests; the graph does the same per use). */
  public static float[] dequantize(Algo algo, Quantized q, int out, int in) {
    float[] w = new float[out * in];
    for (int k = 0; k < w.length; k++) {
      if (algo == Algo.WEIGHT_ONLY_INT8) {
        w[k] = ((q.codes()[k] & 0xff) - 128) * q.scales()[k / in];
      } else {
        int b = q.codes()[k / 2] & 0xff;
        int code = k % 2 == 0 ? b >>> 4 : b & 15;
        w[k] = NF4_CODEBOOK[code] * q.scales()[k / NF4_BLOCK];
      }
    }
    return w;
  }

  /**
   * The graph variables of one quantized weight ({@code [out, in]} as {@code shape}); {@link #dequantize}
   * builds its float32 value.
   */
  record Stored(Algo algo, long[] shape, Variable<TUint8> codes, Variable<TFloat32> scales) {

    /** The float32 weight {@code [out, in]}, built in {@code tf} (each call its own operations). */
    Operand<TFloat32> dequantize(Ops tf) {
      if (algo == Algo.WEIGHT_ONLY_INT8) {
        Operand<TFloat32> centred = tf.math.sub(tf.dtypes.cast(codes, TFloat32.class), tf.constant(128f)); // [out, in]
        return tf.math.mul(centred, scales); // [out, in]
      }
      long n = shape[0] * shape[1];
      Operand<TInt32> bytes = tf.dtypes.cast(codes, TInt32.class); // [n/2]
      Operand<TInt32> high = tf.math.floorDiv(bytes, tf.constant(16)); // [n/2]
      Operand<TInt32> low = tf.math.floorMod(bytes, tf.constant(16)); // [n/2]
      Operand<TInt32> pairs = tf.stack(List.of(high, low), org.tensorflow.op.core.Stack.axis(1L)); // [n/2, 2]
      Operand<TFloat32> values = tf.gather(tf.constant(NF4_CODEBOOK), pairs, tf.constant(0)); // [n/2, 2]
      Operand<TFloat32> blocks = tf.reshape(values, tf.constant(new long[] {n / NF4_BLOCK, NF4_BLOCK})); // [n/64, 64]
      Operand<TFloat32> scaled = tf.math.mul(blocks, scales); // [n/64, 64]
      return tf.reshape(scaled, tf.constant(shape)); // [out, in]
    }
  }

  private final Algo algo;
  private final Map<String, Stored> stored;
  private final Map<String, long[]> shapes;
  private final Map<String, Placeholder<TUint8>> codeFeeds = new LinkedHashMap<>();
  private final Map<String, Placeholder<TFloat32>> scaleFeeds = new LinkedHashMap<>();
  private final Map<String, Op> assigns = new LinkedHashMap<>();

  QuantizedWeights(Algo algo, Map<String, Stored> stored, Map<String, long[]> shapes, Ops loadOps) {
    this.algo = algo;
    this.stored = stored;
    this.shapes = shapes;
    for (Map.Entry<String, Stored> e : stored.entrySet()) {
      Placeholder<TUint8> c = loadOps.placeholder(TUint8.class); // like the codes
      Placeholder<TFloat32> s = loadOps.placeholder(TFloat32.class); // like the scales
      codeFeeds.put(e.getKey(), c);
      scaleFeeds.put(e.getKey(), s);
      Op a = loadOps.assign(e.getValue().codes(), c);
      Op b = loadOps.assign(e.getValue().scales(), s);
      assigns.put(e.getKey(), loadOps.withControlDependencies(List.of(a, b)).noOp());
    }
  }

  /** Creates the variables of weight {@code hfName} ({@code [out, in]}) in {@code scoped}. */
  static Stored create(Algo algo, Ops scoped, String hfName, long[] shape) {
    if (algo == Algo.WEIGHT_ONLY_INT8) {
      Variable<TUint8> codes = scoped.withName(hfName + ".int8").variable(Shape.of(shape), TUint8.class);
      Variable<TFloat32> scales = scoped.withName(hfName + ".scale").variable(Shape.of(shape[0], 1), TFloat32.class);
      return new Stored(algo, shape, codes, scales);
    }
    long n = shape[0] * shape[1];
    Variable<TUint8> codes = scoped.withName(hfName + ".nf4").variable(Shape.of(n / 2), TUint8.class);
    Variable<TFloat32> absmax =
        scoped.withName(hfName + ".absmax").variable(Shape.of(n / NF4_BLOCK, 1), TFloat32.class);
    return new Stored(algo, shape, codes, absmax);
  }

  /** Bytes weight {@code name} takes quantized: its codes and its float32 scales. */
  long storedBytes(String name) {
    long[] shape = shapes.get(name);
    long n = shape[0] * shape[1];
    return algo == Algo.WEIGHT_ONLY_INT8 ? n + 4 * shape[0] : n / 2 + 4 * (n / NF4_BLOCK);
  }

  /** The stored weight {@code hfName}, or null when it is not quantized. */
  Stored stored(String hfName) {
    return stored.get(hfName);
  }

  /** The algorithm. */
  public Algo algo() {
    return algo;
  }

  /** Names of the quantized weights, in forward order. */
  public List<String> names() {
    return new ArrayList<>(stored.keySet());
  }

  /** Quantizes float weights (by Hugging Face name; every quantized weight must be present) and assigns them. */
  public void assign(Session session, Map<String, float[]> floats) {
    Map<String, Quantized> all = new LinkedHashMap<>();
    for (String name : stored.keySet()) {
      float[] w = floats.get(name);
      if (w == null) {
        throw new IllegalArgumentException("no value for quantized weight " + name);
      }
      all.put(name, quantize(name, w));
    }
    assignQuantized(session, all);
  }

  /** {@code w}, weight {@code name}, quantized in Java (the float copy can be dropped afterwards). */
  public Quantized quantize(String name, float[] w) {
    long[] shape = shapes.get(name);
    return quantize(algo, w, (int) shape[0], (int) shape[1]);
  }

  /**
   * Assigns already quantized weights, all of {@code all} in one session run (the loader passes groups of
   * about 64 MB): one run per weight built a new executor each time (about a second apiece at 30 layers).
   */
  public void assignQuantized(Session session, Map<String, Quantized> all) {
    Session.Runner runner = session.runner();
    List<Tensor> tensors = new ArrayList<>();
    try {
      for (Map.Entry<String, Quantized> e : all.entrySet()) {
        String name = e.getKey();
        Quantized q = e.getValue();
        Shape codeShape = algo == Algo.WEIGHT_ONLY_INT8 ? Shape.of(shapes.get(name)) : Shape.of(q.codes().length);
        TUint8 codes = TUint8.tensorOf(codeShape, DataBuffers.of(q.codes(), true, false));
        tensors.add(codes);
        Tensor scales = Tensors.floats(new long[] {q.scales().length, 1}, q.scales());
        tensors.add(scales);
        runner.feed(codeFeeds.get(name), codes).feed(scaleFeeds.get(name), scales).addTarget(assigns.get(name));
      }
      runner.run();
    } finally {
      tensors.forEach(Tensor::close);
    }
  }

  /** Quantizes and assigns one weight. */
  public void load(Session session, String name, float[] w) {
    assignQuantized(session, Map.of(name, quantize(name, w)));
  }
}
