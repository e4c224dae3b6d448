package dev.tfdpo.trainer;

import dev.tfdpo.graphs.LoraAdapters;
import dev.tfdpo.graphs.QuantizedWeights;
import dev.tfdpo.graphs.training.DpoGraph;
import dev.tfdpo.graphs.training.LoraTraining;
import dev.tfdpo.io.hf.LlamaConfig;
import dev.tfdpo.io.hf.PeftAdapter;
import dev.tfdpo.trainer.config.ConfigException;
import dev.tfdpo.trainer.config.LoraOptions;
import dev.tfdpo.trainer.config.TrainConfig;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.TreeSet;

/**
 * The LoRA side of a run (docs/lora.md): the adapter spec, the starting adapter (from {@code lora_path}
 * or PEFT's initialization), loading it into the graph's trained adapters and the reference's frozen
 * copy, and writing the trained adapter as a PEFT directory.
 */
final class LoraRun {

  private final LoraOptions options;
  private final Map<String, float[]> start;
  private final Map<String, long[]> shapes;
  private final boolean fromFile;

  private LoraRun(LoraOptions options, Map<String, float[]> start, Map<String, long[]> shapes, boolean fromFile) {
    this.options = options;
    this.start = start;
    this.shapes = shapes;
    this.fromFile = fromFile;
  }

  /**
   * The run's LoRA, or null when it trains every weight. The starting adapter is read now (so a bad
   * {@code lora_path} fails before anything is written); without one, A is PEFT's Kaiming-uniform draw
   * (bound {@code 1 / sqrt(in)}, seeded by {@code seed}) and B is zero.
   */
  static LoraRun resolve(TrainConfig config, LlamaConfig model) throws IOException {
    LoraOptions options = config.lora();
    if (!options.enabled()) {
      return null;
    }
    if (options.path().isEmpty()) {
      Map<String, long[]> shapes = expectedShapes(model, spec(options));
      return new LoraRun(options, pefInit(shapes, config.training().seed()), shapes, false);
    }
    Path dir = ProjectPaths.resolve(options.path());
    PeftAdapter adapter = LoraOptions.readAdapter(dir);
    LoraOptions resolved = options.from(adapter);
    Map<String, long[]> shapes = expectedShapes(model, spec(resolved));
    TreeSet<String> missing = new TreeSet<>(shapes.keySet());
    missing.removeAll(adapter.tensors().keySet());
    TreeSet<String> extra = new TreeSet<>(adapter.tensors().keySet());
    extra.removeAll(shapes.keySet());
    if (!missing.isEmpty() || !extra.isEmpty()) {
      throw new ConfigException("lora_path " + dir + ": the adapter does not fit the model and its target_modules"
          + (missing.isEmpty() ? "" : "; missing " + missing) + (extra.isEmpty() ? "" : "; unexpected " + extra));
    }
    for (Map.Entry<String, long[]> e : shapes.entrySet()) {
      if (!Arrays.equals(e.getValue(), adapter.shapes().get(e.getKey()))) {
        throw new ConfigException("lora_path " + dir + ": " + e.getKey() + " has shape "
            + Arrays.toString(adapter.shapes().get(e.getKey())) + " but r = " + resolved.rank()
            + " and config.json imply " + Arrays.toString(e.getValue()));
      }
    }
    Map<String, float[]> values = new LinkedHashMap<>();
    shapes.keySet().forEach(n -> values.put(n, adapter.tensors().get(n)));
    return new LoraRun(resolved, values, shapes, true);
  }

  /** The graph's adapter spec of {@code o}. */
  static LoraAdapters.Spec spec(LoraOptions o) {
    return new LoraAdapters.Spec(o.rank(), o.alpha(), o.rslora(), o.targets());
  }

  /** The graph's quantization of the base, or null for float32. */
  static QuantizedWeights.Algo quantize(LoraOptions o) {
    return o.quantize().isEmpty() ? null : QuantizedWeights.Algo.byName(o.quantize());
  }

  /** Every adapter tensor's shape by graph name, in forward order. */
  static Map<String, long[]> expectedShapes(LlamaConfig model, LoraAdapters.Spec spec) {
    Map<String, long[]> out = new LinkedHashMap<>();
    var table = dev.tfdpo.io.hf.LlamaWeights.of(model);
    for (String module : LoraAdapters.modules(model, spec)) {
      long[] w = table.entry(module + ".weight").shape(); // [out, in]
      out.put(module + ".lora_A.weight", new long[] {spec.rank(), w[1]});
      out.put(module + ".lora_B.weight", new long[] {w[0], spec.rank()});
    }
    return out;
  }

  /**
   * PEFT's default initialization: {@code kaiming_uniform_(A, a = sqrt(5))}, i.e. uniform in {@code
   * [-1/sqrt(in), 1/sqrt(in)]}, and B zero, so the adapted model starts as the base. The draws are this
   * project's (seeded), not torch's.
   */
  static Map<String, float[]> pefInit(Map<String, long[]> shapes, long seed) {
    SplittableRandom random = new SplittableRandom(seed);
    Map<String, float[]> out = new LinkedHashMap<>();
    shapes.forEach((name, shape) -> {
      float[] v = new float[(int) (shape[0] * shape[1])];
      if (!LoraAdapters.isB(name)) {
        double bound = 1 / Math.sqrt(shape[1]);
        for (int i = 0; i < v.length; i++) {
          v[i] = (float) random.nextDouble(-bound, bound);
        }
      }
      out.put(name, v);
    });
    return out;
  }

  /** The starting adapter a precompute pass needs, or null when the adapter starts at zero (B = 0). */
  ReferenceLogps.StartAdapter startAdapter() {
    return fromFile ? new ReferenceLogps.StartAdapter(ProjectPaths.resolve(options.path()), spec(options), start) : null;
  }

  /** The graph's LoRA settings. */
  LoraTraining training() {
    return new LoraTraining(spec(options), (float) options.plusScale(), fromFile, quantize(options));
  }

  /** Loads the starting adapter into the trained adapters and the reference's frozen copy. */
  void load(DpoGraph graph) {
    graph.policyAdapters().assign(graph.session(), start);
    if (graph.referenceAdapters() != null) {
      graph.referenceAdapters().assign(graph.session(), start);
    }
  }

  /**
   * Writes {@code graph}'s current adapter as a PEFT adapter directory (the graph's spec gives r, alpha,
   * rsLoRA and the targets).
   *
   * @return the weight file
   */
  static Path write(DpoGraph graph, Path dir, Path baseModel) throws IOException {
    LoraAdapters adapters = graph.policyAdapters();
    LoraAdapters.Spec spec = adapters.spec();
    Map<String, long[]> shapes = new LinkedHashMap<>();
    adapters.shapes().forEach((name, shape) -> shapes.put(name, shape.asArray()));
    new PeftAdapter(spec.rank(), spec.alpha(), spec.rslora(), spec.targets(), adapters.read(graph.session()), shapes)
        .write(dir, baseModel.toString());
    return dir.resolve(PeftAdapter.WEIGHTS_FILE);
  }

  /** One line for the run log. */
  String describe() {
    LoraAdapters.Spec spec = spec(options);
    return String.format("LoRA: r %d, alpha %s, scale %s%s, targets %s, %s%s", spec.rank(), options.alpha(),
        spec.scale(), options.rslora() ? " (rsLoRA)" : "", spec.targets(),
        fromFile ? "starting from " + options.path() + " (the reference keeps a frozen copy)"
            : "PEFT initialization (B = 0: the reference is the base with the adapter off)",
        options.plusScale() != 1 ? ", LoRA+ B learning rate x" + options.plusScale() : "")
        + (options.quantize().isEmpty() ? "" : ", base projections stored " + options.quantize());
  }
}
