package dev.tfdpo.graphs;

import dev.tfdpo.io.hf.LlamaWeights;
import dev.tfdpo.io.safetensors.FiniteValues;
import dev.tfdpo.io.safetensors.SafeTensorsReader;
import dev.tfdpo.io.safetensors.TensorInfo;
import dev.tfdpo.io.safetensors.TensorSource;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import org.tensorflow.Output;
import org.tensorflow.Session;
import org.tensorflow.Tensor;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.ndarray.buffer.FloatDataBuffer;
import org.tensorflow.op.Op;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Placeholder;
import org.tensorflow.op.core.Variable;
import dev.tfdpo.ops.Precision;
import org.tensorflow.Operand;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt32;
import org.tensorflow.types.family.TNumber;

/**
 * Moves weights between Hugging Face safetensors and a model's graph variables.
 *
 * <p>The assign ops are built once with the graph. Loading from files streams each tensor from disk
 * into a native tensor, one session run per 64 MB of a shard; {@link #assign} feeds in-memory values in one run.
 * Names go through {@link LlamaWeights}, so a file with a missing, unexpected or misshaped tensor is
 * refused with the file and tensor named. Values travel as float32 whatever the variables' type: a
 * bfloat16-stored model rounds them in the assign (round to nearest even) and widens them on read.
 */
public final class WeightLoader {

  private final Llama model;
  private final LlamaWeights table;
  private final Map<String, Placeholder<TFloat32>> feeds = new LinkedHashMap<>();
  private final Map<String, Op> assigns = new LinkedHashMap<>();
  private final Map<String, Operand<TFloat32>> values = new LinkedHashMap<>();
  private final Op loadAll;
  /** The variables' names in {@link #readIndex} order (forward order). */
  private final List<String> readOrder;
  /** Which variable {@link #readValue} returns {@code []}. */
  private final Placeholder<TInt32> readIndex;
  /** The chosen variable's values, flat, as float32 {@code [size]} ({@link #readOne}). */
  private final Output<TFloat32> readValue;

  private WeightLoader(Llama model, Ops scoped) {
    this.model = model;
    this.table = LlamaWeights.of(model.config());
    for (Map.Entry<String, Variable<? extends TNumber>> e : model.storedVariables().entrySet()) {
      Placeholder<TFloat32> value = scoped.placeholder(TFloat32.class); // the weight's shape
      feeds.put(e.getKey(), value);
      assigns.put(e.getKey(), assign(scoped, e.getValue(), value));
      values.put(e.getKey(), Precision.float32(scoped, e.getValue())); // the weight's shape
    }
    this.loadAll = scoped.withControlDependencies(List.copyOf(assigns.values())).noOp();
    this.readOrder = List.copyOf(model.storedVariables().keySet());
    this.readIndex = scoped.withName("read_index").placeholder(TInt32.class, Placeholder.shape(Shape.scalar())); // []
    this.readValue = selected(scoped, readIndex, readOrder.stream().map(model.storedVariables()::get).toList());
  }

  /**
   * One fetch for any of {@code variables}: a {@code _SwitchN} on {@code index} makes every branch but the
   * chosen one dead, each branch reads its variable (as float32, flat) under a control dependency on its
   * switch output, and a {@code Merge} returns the live one. Every read then runs the same feed and fetch
   * set, so TensorFlow prunes the graph and builds an executor for it once: a set of fetches per decoder
   * layer (the former way) cost ~120 ms each on the 135M shape, 3.9 s per checkpoint or export of its 30
   * layers, and every new set again after that.
   */
  private static Output<TFloat32> selected(Ops tf, Operand<TInt32> index, List<Variable<? extends TNumber>> variables) {
    org.tensorflow.Operation pivots = tf.scope().opBuilder("_SwitchN", "read_switch")
        .addInput(tf.constant(0f).asOutput())
        .addInput(index.asOutput())
        .setAttr("num_outs", variables.size())
        .build(); // [] each, live only at output index
    List<Operand<TFloat32>> branches = new ArrayList<>();
    for (int i = 0; i < variables.size(); i++) {
      Ops branch = tf.withControlDependencies(List.of(tf.identity(pivots.<TFloat32>output(i))));
      Operand<TFloat32> value = Precision.float32(branch, variables.get(i)); // the variable's shape
      branches.add(branch.reshape(value, branch.constant(new long[] {-1}))); // [size]
    }
    return tf.merge(branches).output(); // [size of the chosen variable]
  }

  private static <T extends TNumber> Op assign(Ops tf, Variable<T> variable, Operand<TFloat32> value) {
    return tf.assign(variable, Precision.as(tf, value, variable.type()));
  }

  /** Builds the load ops of {@code model}; call while building the graph. */
  public static WeightLoader create(Ops tf, Llama model) {
    return create(GraphScopes.of(tf), model);
  }

  /** Builds the load ops of {@code model} in its reserved scope ({@link Llama#scopeNames}). */
  public static WeightLoader create(GraphScopes scopes, Llama model) {
    return new WeightLoader(model, scopes.get(scopeName(model.scope())));
  }

  /** The sub-scope of the load ops of the model in {@code modelScope}. */
  static String scopeName(String modelScope) {
    return modelScope + "_load";
  }

  /** Values copied per step from the file to a tensor: 4 MB of heap, whatever the model. */
  static final int CHUNK_FLOATS = 1 << 20;

  /**
   * Loads every variable from a safetensors file or Hugging Face model directory, one session run per
   * {@link #RUN_BYTES} of a shard: each tensor goes from the file into a native tensor in chunks of
   * {@link #CHUNK_FLOATS} values, so the Java heap never holds a tensor, and native memory holds at most
   * one run's tensors (64 MB, or the largest tensor) besides the variables.
   */
  public void load(Session session, SafeTensorsReader reader) throws IOException {
    load(session, reader, java.util.Set.of());
  }

  /**
   * {@link #load(Session, SafeTensorsReader)} from a file that also holds {@code others}, tensors some
   * other part of the graph loads (a reward model's {@code score.weight}): they are neither required
   * nor refused here.
   */
  public void load(Session session, SafeTensorsReader reader, java.util.Set<String> others) throws IOException {
    load(session, reader, others, RUN_BYTES);
  }

  /** {@link #load(Session, SafeTensorsReader, java.util.Set)} feeding at most {@code runBytes} per run. */
  void load(Session session, SafeTensorsReader reader, java.util.Set<String> others, long runBytes)
      throws IOException {
    checkNames(reader, others);
    Map<Path, List<String>> byShard = new LinkedHashMap<>();
    for (String name : feeds.keySet()) {
      byShard.computeIfAbsent(reader.fileOf(name), f -> new ArrayList<>()).add(name);
    }
    float[] chunk = new float[CHUNK_FLOATS];
    for (List<String> names : byShard.values()) {
      for (List<String> group : runGroups(names, name -> 4 * count(table.entry(name).shape()), runBytes)) {
        loadGroup(session, reader, group, chunk);
      }
    }
    QuantizedWeights quantized = model.quantized();
    if (quantized != null) {
      for (String name : quantized.names()) {
        if (!reader.contains(name)) {
          throw new IOException(reader.source() + ": missing tensor " + name + " required by config.json");
        }
      }
      // Each weight is read and quantized in turn (one float copy at a time); the quantized weights go in
      // runs of about runBytes, so neither the heap nor TensorFlow's pool holds all of them at once.
      for (List<String> group : runGroups(quantized.names(), quantized::storedBytes, runBytes)) {
        Map<String, QuantizedWeights.Quantized> values = new LinkedHashMap<>();
        for (String name : group) {
          values.put(name, quantized.quantize(name, reader.readFloats(name)));
        }
        quantized.assignQuantized(session, values);
      }
    }
  }

  /**
   * Float32 bytes fed per load run: 64 MB. Every fed tensor is allocated by TensorFlow's process-wide CPU
   * allocator, which with oneDNN on is a BFC pool that never returns freed memory to the system: feeding a
   * whole shard in one run left one model's worth of freed pool resident until step 1 reused it (513 MiB
   * on the 135M shape, docs/memory.md "Where the memory goes"). Runs of this size bound that to 64 MB, or
   * to the largest tensor, for about 16 runs per GiB of weights; each builds its small executor once, from
   * a copy of the whole graph (~8 MB of malloc left behind per run on the 135M shape).
   */
  static final long RUN_BYTES = 64L << 20;

  /**
   * {@code names} in order, cut into consecutive groups of at most {@code maxBytes} (a tensor larger than
   * that forms a group of its own).
   */
  static List<List<String>> runGroups(List<String> names, java.util.function.ToLongFunction<String> bytes,
      long maxBytes) {
    return dev.tfdpo.io.safetensors.SafeTensorsWriter.consecutiveGroups(names, bytes, maxBytes);
  }

  private static long count(long[] shape) {
    long n = 1;
    for (long d : shape) {
      n *= d;
    }
    return n;
  }

  private void loadGroup(Session session, SafeTensorsReader reader, List<String> names, float[] chunk)
      throws IOException {
    Session.Runner runner = session.runner();
    List<Tensor> tensors = new ArrayList<>();
    try {
      for (String name : names) {
        TFloat32 t = TFloat32.tensorOf(Shape.of(table.entry(name).shape()));
        tensors.add(t);
        copyFinite(reader, name, chunk, t);
        runner.feed(feeds.get(name), t).addTarget(assigns.get(name));
      }
      runner.run();
    } finally {
      tensors.forEach(Tensor::close);
    }
  }

  /**
   * Copies tensor {@code name} into {@code target}. A NaN or infinite weight would only show as a
   * non-finite loss at step 1, blamed on the data; it is refused here, naming the file and the tensor.
   */
  private static void copyFinite(SafeTensorsReader reader, String name, float[] chunk, TFloat32 target)
      throws IOException {
    FloatDataBuffer data = target.asRawTensor().data().asFloats();
    reader.readFloatChunks(name, chunk, (values, count, first) -> {
      FiniteValues.check(reader, name, values, count, first);
      data.offset(first).write(values, 0, count);
    });
  }

  /** Assigns in-memory values (by Hugging Face name; every variable must be present). */
  public void assign(Session session, Map<String, float[]> values) {
    Tensors.assignAll(session, feeds, values, name -> table.entry(name).shape(), loadAll, "");
    if (model.quantized() != null) {
      model.quantized().assign(session, values);
    }
  }

  /**
   * Current values of every variable, by Hugging Face name, in forward order, fetched one at a time
   * through one executor ({@link #selected}), so native memory holds one variable's copy besides the
   * variables, not a second copy of the model.
   */
  public Map<String, float[]> read(Session session) {
    Map<String, float[]> out = new LinkedHashMap<>();
    for (String name : readOrder) {
      try (TFloat32 t = readOne(session, name)) {
        out.put(name, Tensors.toFloats(t));
      }
    }
    return out;
  }

  /** Variable {@code name}'s current values as float32, flat; the caller closes the tensor. */
  private TFloat32 readOne(Session session, String name) {
    int at = readOrder.indexOf(name);
    try (TInt32 index = TInt32.scalarOf(at)) {
      return (TFloat32) session.runner().feed(readIndex, index).fetch(readValue).run().get(0);
    }
  }

  /**
   * Every variable as a {@link TensorSource}, in forward order, for {@code SafeTensorsWriter}. A
   * variable is fetched only when the writer reaches it ({@link #readOne}) and copied out in chunks of
   * {@link #CHUNK_FLOATS} values: the Java heap holds 4 MB and native memory one variable's copy besides
   * the variables (checkpoints and exports write the model without a {@code float[]} of it). The values
   * are those at write time: write between steps.
   */
  public List<TensorSource> sources(Session session) {
    List<TensorSource> out = new ArrayList<>();
    for (String name : model.variables().keySet()) {
      out.add(new VariableSource(this, session, name, table.entry(name).shape()));
    }
    return out;
  }

  /** One variable, fetched when it is streamed. */
  private record VariableSource(WeightLoader loader, Session session, String name, long[] shape)
      implements TensorSource {

    @Override
    public long[] shape() {
      return shape.clone();
    }

    @Override
    public void stream(Chunks sink) throws IOException {
      try (TFloat32 t = loader.readOne(session, name)) {
        FloatDataBuffer values = t.asRawTensor().data().asFloats();
        long size = values.size();
        float[] chunk = new float[(int) Math.min(CHUNK_FLOATS, Math.max(1, size))];
        for (long at = 0; at < size; at += chunk.length) {
          int n = (int) Math.min(chunk.length, size - at);
          values.slice(at, n).read(chunk, 0, n);
          sink.accept(chunk, n);
        }
      }
    }
  }

  private void checkNames(SafeTensorsReader reader, java.util.Set<String> others) throws IOException {
    TreeSet<String> missing = new TreeSet<>(feeds.keySet());
    missing.removeAll(reader.names());
    if (!missing.isEmpty()) {
      throw new IOException(
          reader.source() + ": missing tensor(s) " + missing
              + " required by config.json; is this the checkpoint the config describes?");
    }
    for (String name : reader.names()) {
      if (others.contains(name)) {
        continue;
      }
      if (!table.contains(name)) {
        // Some exporters write lm_head.weight even for tied models; transformers ignores it too.
        if (name.equals("lm_head.weight") && model.config().tieWordEmbeddings()) {
          continue;
        }
        throw new IOException(
            reader.source() + ": unexpected tensor '" + name
                + "' that this Llama architecture does not have (check num_hidden_layers,"
                + " attention_bias, mlp_bias and tie_word_embeddings in config.json)");
      }
      TensorInfo info = reader.info(name);
      long[] expected = table.entry(name).shape();
      if (!Arrays.equals(info.shape(), expected)) {
        throw new IOException(
            reader.source() + ": tensor '" + name + "' has shape " + Arrays.toString(info.shape())
                + " but config.json implies " + Arrays.toString(expected));
      }
    }
  }
}
