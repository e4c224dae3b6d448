package dev.tfdpo.graphs;

import dev.tfdpo.io.hf.LlamaConfig;
import dev.tfdpo.io.hf.LlamaWeights;
import dev.tfdpo.io.hf.PeftAdapter;
import dev.tfdpo.ops.LowRank;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.tensorflow.Operand;
import org.tensorflow.Session;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.op.Op;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Placeholder;
import org.tensorflow.op.core.Variable;
import org.tensorflow.types.TFloat32;

/**
 * A set of LoRA adapters over a {@link Llama}'s projections, as graph variables in PEFT's layout and
 * naming: for projection {@code model.layers.i.self_attn.q_proj}, {@code <scope>/model.layers.i.self_attn
 * .q_proj.lora_A.weight} {@code [r, in]} and {@code ...lora_B.weight} {@code [out, r]} (PEFT's file keys
 * are these names with {@code base_model.model.} in front). The forward pass reads them through an
 * Identity each ({@link #reads}), as the model's weights are read, and adds {@code s (x A^T) B^T} to the
 * projection's output ({@link LowRank}).
 */
public final class LoraAdapters {

  /** The projections an adapter can target, Hugging Face names, in forward order within a layer. */
  public static final List<String> MODULES = PeftAdapter.TARGET_MODULES;

  private static final List<String> MLP = List.of("gate_proj", "up_proj", "down_proj");

  /**
   * What the adapters are.
   *
   * @param rank r
   * @param alpha lora_alpha (already resolved: PaddleNLP's -1 is the caller's business)
   * @param rslora scale {@code alpha / sqrt(r)} instead of {@code alpha / r}
   * @param targets the targeted projections, a subset of {@link #MODULES}
   */
  public record Spec(int rank, double alpha, boolean rslora, List<String> targets) {

    /** Checks the values. */
    public Spec {
      if (rank < 1) {
        throw new IllegalArgumentException("LoRA rank must be at least 1, got " + rank);
      }
      if (targets.isEmpty()) {
        throw new IllegalArgumentException("LoRA needs at least one target module");
      }
      for (String t : targets) {
        if (!MODULES.contains(t)) {
          throw new IllegalArgumentException("unknown LoRA target module '" + t + "'; valid: " + MODULES);
        }
      }
      targets = MODULES.stream().filter(targets::contains).toList();
    }

    /** PEFT's scaling: {@code alpha / r}, or {@code alpha / sqrt(r)} with rsLoRA. */
    public float scale() {
      return PeftAdapter.scale(alpha, rank, rslora);
    }
  }

  private final Spec spec;
  private final String scope;
  private final Map<String, Variable<TFloat32>> variables;
  private final Map<String, Operand<TFloat32>> reads;
  private final Map<String, Shape> shapes;
  private final Map<String, Placeholder<TFloat32>> feeds = new LinkedHashMap<>();
  private final Op loadAll;

  private LoraAdapters(Spec spec, String scope, Map<String, Variable<TFloat32>> variables,
      Map<String, Operand<TFloat32>> reads, Map<String, Shape> shapes, Ops loadOps) {
    this.spec = spec;
    this.scope = scope;
    this.variables = variables;
    this.reads = reads;
    this.shapes = shapes;
    List<Op> assigns = new ArrayList<>();
    for (Map.Entry<String, Variable<TFloat32>> e : variables.entrySet()) {
      Placeholder<TFloat32> value = loadOps.placeholder(TFloat32.class); // the variable's shape
      feeds.put(e.getKey(), value);
      assigns.add(loadOps.assign(e.getValue(), value));
    }
    this.loadAll = loadOps.withControlDependencies(assigns).withName("load_all").noOp();
  }

  /** The sub-scopes adapters named {@code scope} use: reserve them before the graph grows ({@link GraphScopes}). */
  public static List<String> scopeNames(String scope) {
    return List.of(scope, scope + "_read", scope + "_load");
  }

  /** Creates the adapters' variables for every targeted projection of {@code config}'s layers. */
  public static LoraAdapters create(GraphScopes scopes, LlamaConfig config, Spec spec, String scope) {
    Ops scoped = scopes.get(scope);
    Ops readScope = scopes.get(scope + "_read");
    LlamaWeights table = LlamaWeights.of(config);
    Map<String, Variable<TFloat32>> vars = new LinkedHashMap<>();
    Map<String, Operand<TFloat32>> reads = new LinkedHashMap<>();
    Map<String, Shape> shapes = new LinkedHashMap<>();
    for (String module : modules(config, spec)) {
      long[] w = table.entry(module + ".weight").shape(); // [out, in]
      shapes.put(module + ".lora_A.weight", Shape.of(spec.rank(), w[1]));
      shapes.put(module + ".lora_B.weight", Shape.of(w[0], spec.rank()));
    }
    shapes.forEach((name, shape) -> {
      Variable<TFloat32> v = scoped.withName(name).variable(shape, TFloat32.class);
      vars.put(name, v);
      reads.put(name, readScope.withName(name).identity(v)); // gradients are taken at these
    });
    return new LoraAdapters(spec, scope, vars, reads, shapes, scopes.get(scope + "_load"));
  }

  /** The targeted projections' Hugging Face paths ({@code model.layers.i.self_attn.q_proj}), in forward order. */
  public static List<String> modules(LlamaConfig config, Spec spec) {
    List<String> out = new ArrayList<>();
    for (int i = 0; i < config.numHiddenLayers(); i++) {
      for (String m : spec.targets()) {
        String block = MLP.contains(m) ? "mlp" : "self_attn";
        out.add("model.layers." + i + "." + block + "." + m);
      }
    }
    return out;
  }

  /** What the adapters are. */
  public Spec spec() {
    return spec;
  }

  /** The variable scope. */
  public String scope() {
    return scope;
  }

  /** The variables by adapter name ({@code model.layers.0.self_attn.q_proj.lora_A.weight}), in forward order. */
  public Map<String, Variable<TFloat32>> variables() {
    return variables;
  }

  /** What the forward pass reads, by adapter name: differentiate with respect to these. */
  public Map<String, Operand<TFloat32>> reads() {
    return reads;
  }

  /** Each variable's shape, by adapter name. */
  public Map<String, Shape> shapes() {
    return shapes;
  }

  /** The adapters as {@link LowRank}s by projection path, for {@link Llama#hidden(Ops, Llama.Inputs, Map)}. */
  public Map<String, LowRank> byModule() {
    Map<String, LowRank> out = new LinkedHashMap<>();
    for (String name : reads.keySet()) {
      if (name.endsWith(".lora_A.weight")) {
        String module = name.substring(0, name.length() - ".lora_A.weight".length());
        out.put(module, new LowRank(reads.get(name), reads.get(module + ".lora_B.weight"), spec.scale()));
      }
    }
    return out;
  }

  /** Whether {@code name} is a B matrix (LoRA+ scales its learning rate). */
  public static boolean isB(String name) {
    return name.endsWith(".lora_B.weight");
  }

  /** Assigns every adapter variable (each must be present with its shape's element count). */
  public void assign(Session session, Map<String, float[]> values) {
    Tensors.assignAll(session, feeds, values, name -> shapes.get(name).asArray(), loadAll, "LoRA weight ");
  }

  /** Current values by adapter name, in forward order (adapters are small: one run). */
  public Map<String, float[]> read(Session session) {
    Session.Runner runner = session.runner();
    List<String> names = new ArrayList<>(variables.keySet());
    names.forEach(n -> runner.fetch(variables.get(n)));
    Map<String, float[]> out = new LinkedHashMap<>();
    try (var result = runner.run()) {
      for (int i = 0; i < names.size(); i++) {
        out.put(names.get(i), Tensors.toFloats(result.get(i)));
      }
    }
    return out;
  }
}
