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
 * <p>The assign and read ops are built once with the graph, each as one executor for every variable
 * ({@link #routed}, {@link #selected}). Loading from files streams each tensor from disk into a native
 * tensor, one session run per tensor; {@link #assign} feeds in-memory values the same way.
 * Names go through {@link LlamaWeights}, so a file with a missing, unexpected or misshaped tensor is
 * refused with the file and tensor named. Values travel as float32 whatever the variables' type: a
 * bfloat16-stored model rounds them in the assign (round to nearest even) and widens them on read.
 */
public final class WeightLoader {

  private final Llama model;
  private final LlamaWeights table;
  /** The variables' names in forward order, each with its position: the value {@link #index} takes for it. */
  private final Map<String, Integer> positions = new LinkedHashMap<>();
  /** Which variable a load run assigns or a read run returns {@code []} ({@link #loadOne}, {@link #readOne}). */
  private final Placeholder<TInt32> index;
  /** The loaded variable's values, flat, as float32 {@code [size]}. */
  private final Placeholder<TFloat32> loadValue;
  /** Every variable's assignment from {@link #loadValue}: in a run all but the chosen one are dead. */
  private final List<Op> loadAssigns;
  /** The chosen variable's values, flat, as float32 {@code [size]}. */
  private final Output<TFloat32> readValue;

  private WeightLoader(Llama model, Ops scoped) {
    this.model = model;
    this.table = LlamaWeights.of(model.config());
    model.storedVariables().keySet().forEach(name -> positions.put(name, positions.size()));
    List<String> order = List.copyOf(positions.keySet());
    List<Variable<? extends TNumber>> variables = order.stream().map(model.storedVariables()::get).toList();
    this.index = scoped.withName("index").placeholder(TInt32.class, Placeholder.shape(Shape.scalar())); // []
    this.loadValue = scoped.withName("load_value").placeholder(TFloat32.class, Placeholder.shape(Shape.of(-1))); // [size]
    this.loadAssigns = routed(scoped, index, loadValue, variables, order.stream().map(n -> table.entry(n).shape()).toList());
    this.readValue = selected(scoped, index, variables);
  }

  /**
   * One load run for any variable: a {@code _SwitchN} on {@code index} passes {@code value} to the
   * chosen variable's branch (reshaped, rounded to the variable's type, assigned) and makes every other
   * branch dead. Each run feeds the same placeholders and names the same targets, so TensorFlow builds
   * its executor once ({@link #selected} says what a new set of feeds and targets per run cost).
   */
  private static List<Op> routed(Ops tf, Operand<TInt32> index, Operand<TFloat32> value,
      List<Variable<? extends TNumber>> variables, List<long[]> shapes) {
    org.tensorflow.Operation branches = switchN(tf, value, index, variables.size(), "load_switch"); // [size] at index
    List<Op> assigns = new ArrayList<>();
    for (int i = 0; i < variables.size(); i++) {
      Operand<TFloat32> shaped = tf.reshape(branches.<TFloat32>output(i), tf.constant(shapes.get(i))); // the weight's shape
      assigns.add(assign(tf, variables.get(i), shaped));
    }
    return assigns;
  }

  /** {@code _SwitchN}: {@code data} on output {@code index} of {@code n}, the other outputs dead. */
  private static org.tensorflow.Operation switchN(Ops tf, Operand<TFloat32> data, Operand<TInt32> index, int n,
      String name) {
    return tf.scope().opBuilder("_SwitchN", name)
        .addInput(data.asOutput())
        .addInput(index.asOutput())
        .setAttr("num_outs", n)
        .build();
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
    org.tensorflow.Operation pivots = switchN(tf, tf.constant(0f), index, variables.size(), "read_switch"); // [] at index
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
   * Loads every variable from a safetensors file or Hugging Face model directory, shard by shard, one
   * session run per tensor through one executor ({@link #routed}): each tensor goes from the file into a
   * native tensor in chunks of {@link #CHUNK_FLOATS} values, so the Java heap never holds a tensor, and
   * native memory holds one tensor besides the variables.
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
    checkNames(reader, others);
    Map<Path, List<String>> byShard = new LinkedHashMap<>();
    for (String name : positions.keySet()) {
      byShard.computeIfAbsent(reader.fileOf(name), f -> new ArrayList<>()).add(name);
    }
    float[] chunk = new float[CHUNK_FLOATS];
    for (List<String> names : byShard.values()) {
      for (String name : names) {
        try (TFloat32 t = TFloat32.tensorOf(Shape.of(count(table.entry(name).shape())))) {
          copyFinite(reader, name, chunk, t);
          loadOne(session, name, t);
        }
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
      // runs of about RUN_BYTES, so neither the heap nor TensorFlow's pool holds all of them at once.
      for (List<String> group : runGroups(quantized.names(), quantized::storedBytes, RUN_BYTES)) {
        Map<String, QuantizedWeights.Quantized> values = new LinkedHashMap<>();
        for (String name : group) {
          values.put(name, quantized.quantize(name, reader.readFloats(name)));
        }
        quantized.assignQuantized(session, values);
      }
    }
  }

  /** Assigns {@code flat} (the variable's values in row-major order) to variable {@code name}. */
  private void loadOne(Session session, String name, TFloat32 flat) {
    try (TInt32 at = TInt32.scalarOf(positions.get(name))) {
      Session.Runner runner = session.runner().feed(index, at).feed(loadValue, flat);
      loadAssigns.forEach(runner::addTarget);
      runner.run().close();
    }
  }

  /**
   * Quantized weights fed per run: 64 MB. Every fed tensor is allocated by TensorFlow's process-wide CPU
   * allocator, which with oneDNN on is a BFC pool that never returns freed memory to the system: feeding
   * a whole model in one run left one model's worth of freed pool resident until step 1 reused it (513 MiB
   * on the 135M shape, docs/memory.md "Where the memory goes"). Float weights go one tensor per run.
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

  /** Assigns in-memory values (by Hugging Face name; every variable must be present), one run per tensor. */
  public void assign(Session session, Map<String, float[]> values) {
    for (String name : positions.keySet()) {
      float[] data = values.get(name);
      if (data == null) {
        throw new IllegalArgumentException("no value for " + name);
      }
      long[] shape = table.entry(name).shape();
      if (data.length != count(shape)) {
        throw new IllegalArgumentException(
            name + ": " + data.length + " values do not fill shape " + Arrays.toString(shape));
      }
      try (TFloat32 t = Tensors.floats(new long[] {data.length}, data)) {
        loadOne(session, name, t);
      }
    }
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
    for (String name : positions.keySet()) {
      try (TFloat32 t = readOne(session, name)) {
        out.put(name, Tensors.toFloats(t));
      }
    }
    return out;
  }

  /** Variable {@code name}'s current values as float32, flat; the caller closes the tensor. */
  private TFloat32 readOne(Session session, String name) {
    try (TInt32 at = TInt32.scalarOf(positions.get(name))) {
      return (TFloat32) session.runner().feed(index, at).fetch(readValue).run().get(0);
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
    // One chunk for all of them (they stream one after another): a 4 MB array per tensor is a humongous
    // allocation for G1, and hundreds of them grew the committed heap by ~50 MiB during the final write.
    float[] chunk = new float[CHUNK_FLOATS];
    for (String name : model.variables().keySet()) {
      out.add(new VariableSource(this, session, name, table.entry(name).shape(), chunk));
    }
    return out;
  }

  /** One variable, fetched when it is streamed through {@code chunk} (shared by the sources of one call). */
  private record VariableSource(WeightLoader loader, Session session, String name, long[] shape, float[] chunk)
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
        for (long at = 0; at < size; at += chunk.length) {
          int n = (int) Math.min(chunk.length, size - at);
          values.slice(at, n).read(chunk, 0, n);
          sink.accept(chunk, n);
        }
      }
    }
  }

  private void checkNames(SafeTensorsReader reader, java.util.Set<String> others) throws IOException {
    TreeSet<String> missing = new TreeSet<>(positions.keySet());
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
