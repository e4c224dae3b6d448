package dev.tfdpo.bench;

import com.google.gson.Gson;
import com.google.gson.GsonBuilder;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import dev.tfdpo.data.LoadedDataset;
import dev.tfdpo.data.PairSource;
import dev.tfdpo.data.TokenizedPair;
import dev.tfdpo.graphs.training.Batch;
import dev.tfdpo.io.hf.LlamaConfig;
import dev.tfdpo.trainer.BatchBuilder;
import dev.tfdpo.trainer.DpoTrainer;
import dev.tfdpo.trainer.EpochSampler;
import dev.tfdpo.trainer.ProjectPaths;
import dev.tfdpo.trainer.TrainingData;
import dev.tfdpo.trainer.config.ConfigException;
import dev.tfdpo.trainer.config.TrainConfig;
import java.io.IOException;
import java.io.PrintStream;
import java.lang.management.ManagementFactory;
import java.lang.management.MemoryType;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * {@code scripts/bench.sh [CONFIG] [--warmup N] [--steps N] [--variant "NAME: --key value ..."]...
 * [--key value ...]}: the throughput benchmark.
 *
 * <p>Each variant is the named config plus its {@code --key value} overrides (plus any global ones
 * given on the command line), trained for {@code warmup + steps} optimizer steps by the real trainer in
 * a JVM of its own, so peak RSS and process-wide settings are per variant. A variant whose keys this
 * build does not know is skipped with a note. Step times come from the trainer's own per-step
 * throughput log; token, padding and FLOP counts from replaying the same micro-batches.
 */
public final class BenchMain {

  static final String DEFAULT_CONFIG = "configs/bench/perf-256.json";
  static final String DEFAULT_FIXTURE = "test/fixtures/perf-llama-256";
  static final int DEFAULT_WARMUP = 3;
  static final int DEFAULT_STEPS = 20;
  static final int MATMUL_N = 2048;

  /**
   * A benchmark variant: a name, its config overrides, and environment variables for its JVM (for
   * process-wide TensorFlow settings such as {@code TF_ENABLE_ONEDNN_OPTS}, read when TensorFlow starts).
   */
  record Variant(String name, List<String> overrides, Map<String, String> env) {

    Variant(String name, List<String> overrides) {
      this(name, overrides, Map.of());
    }

    /** {@code "NAME: --key value ... VAR=value ..."}. */
    static Variant parse(String spec) {
      int colon = spec.indexOf(':');
      if (colon < 1) {
        throw new ConfigException("--variant must be \"NAME: --key value ... [VAR=value ...]\", got '" + spec + "'");
      }
      List<String> overrides = new ArrayList<>();
      Map<String, String> env = new LinkedHashMap<>();
      String rest = spec.substring(colon + 1).trim();
      for (String token : rest.isEmpty() ? new String[0] : rest.split("\\s+")) {
        int eq = token.indexOf('=');
        if (!token.startsWith("-") && eq > 0 && (overrides.isEmpty() || !overrides.get(overrides.size() - 1).startsWith("--"))) {
          env.put(token.substring(0, eq), token.substring(eq + 1));
        } else {
          overrides.add(token);
        }
      }
      return new Variant(spec.substring(0, colon).trim(), overrides, env);
    }

    String slug() {
      return name.toLowerCase(Locale.ROOT).replaceAll("[^a-z0-9]+", "-").replaceAll("(^-|-$)", "");
    }
  }

  /** TensorFlow's oneDNN kernels, forced on (TensorFlow's default only on CPUs with VNNI, BF16 or AMX). */
  static final Map<String, String> ONEDNN = Map.of("TF_ENABLE_ONEDNN_OPTS", "1");

  /** TensorFlow's own (Eigen) kernels, forced: the plain variants measure the same thing on every CPU. */
  static final Map<String, String> EIGEN = Map.of("TF_ENABLE_ONEDNN_OPTS", "0");

  /**
   * The default comparison: packed vs padded, XLA on vs off, live vs precomputed reference log-probs,
   * TensorFlow's default kernels vs oneDNN's.
   */
  static final List<Variant> DEFAULT_VARIANTS = List.of(
      new Variant("packed", List.of("--packing", "true", "--use_xla", "false"), EIGEN),
      new Variant("padded (TRL layout)", List.of("--packing", "false", "--use_xla", "false"), EIGEN),
      new Variant("packed + XLA", List.of("--packing", "true", "--use_xla", "true"), EIGEN),
      new Variant("padded + XLA", List.of("--packing", "false", "--use_xla", "true"), EIGEN),
      new Variant("packed, precomputed ref", List.of("--packing", "true", "--use_xla", "false",
          "--precompute_ref_log_probs", "true"), EIGEN),
      new Variant("packed + oneDNN", List.of("--packing", "true", "--use_xla", "false"), ONEDNN),
      new Variant("padded + oneDNN", List.of("--packing", "false", "--use_xla", "false"), ONEDNN),
      new Variant("packed, precomputed ref + oneDNN", List.of("--packing", "true", "--use_xla", "false",
          "--precompute_ref_log_probs", "true"), ONEDNN));

  /**
   * {@code --variants precision}: float32 against bf16 O1 and O2 (issue 14 point 4, docs/precision.md), all
   * with oneDNN forced on: TensorFlow runs bfloat16 products natively only through oneDNN.
   */
  static final List<Variant> PRECISION_VARIANTS = List.of(
      new Variant("float32", List.of("--bf16", "false"), ONEDNN),
      new Variant("bf16 O1", List.of("--bf16", "true", "--fp16_opt_level", "O1"), ONEDNN),
      new Variant("bf16 O2", List.of("--bf16", "true", "--fp16_opt_level", "O2"), ONEDNN));

  /** Named variant sets for {@code --variants}. */
  static final Map<String, List<Variant>> VARIANT_SETS = Map.of("default", DEFAULT_VARIANTS,
      "precision", PRECISION_VARIANTS);

  private static final Gson GSON = new GsonBuilder().create();

  private BenchMain() {}

  public static void main(String[] args) {
    dev.tfdpo.cli.Cli.main("bench", args, a -> {
      if (a.length > 0 && a[0].equals("--child")) {
        child(Arrays.asList(a).subList(1, a.length));
      } else {
        parent(Arrays.asList(a), System.out);
      }
      return 0;
    });
  }

  // ---- parent: runs every variant, prints the table ----

  static void parent(List<String> args, PrintStream out) throws IOException, InterruptedException {
    if (args.contains("--help") || args.contains("-h")) {
      out.println("usage: scripts/bench.sh [CONFIG] [--warmup N] [--steps N] [--variant \"NAME: --key value ...\"]..."
          + " [--variants default|precision] [--model_fixture DIR] [--key value ...]");
      out.println("  CONFIG defaults to " + DEFAULT_CONFIG + "; see docs/packing-and-performance.md");
      out.println("keys (in --variant and on the command line, --key value or --key=value):");
      out.print(dev.tfdpo.cli.KeyHelp.all());
      return;
    }
    Plan plan = Plan.parse(args);
    TrainConfig base = TrainConfig.load(plan.config(), plan.global());
    checkVariants(plan.config(), plan.global(), plan.variants());
    Path modelDir = modelDir(base.model().modelNameOrPath());
    if (BenchModel.ensure(modelDir, plan.fixture(), ProjectPaths.resolve(DEFAULT_FIXTURE))) {
      out.printf("generated random weights (seed %d, normal std %.2f, norms 1) for %s into %s%n",
          BenchModel.SEED, BenchModel.STD, plan.fixture(), modelDir);
    }
    printHeader(out, plan, base, modelDir);
    Path runs = ProjectPaths.root().resolve("output/bench");
    Files.createDirectories(runs);
    List<JsonObject> results = new ArrayList<>();
    List<String> names = new ArrayList<>();
    for (Variant v : plan.variants()) {
      JsonObject result = runVariant(out, plan, base, v, runs);
      if (result != null) {
        results.add(result);
        names.add(v.name());
      }
    }
    out.println();
    printTable(out, names, results);
  }

  /** The parent's command line: the config, step counts, model fixture, variants and keys for every variant. */
  private record Plan(Path config, int warmup, int steps, Path fixture, List<Variant> variants, List<String> global) {

    static Plan parse(List<String> args) {
      List<String> rest = new ArrayList<>(args);
      Path config = ProjectPaths.resolve(DEFAULT_CONFIG);
      if (!rest.isEmpty() && !rest.get(0).startsWith("--")) {
        config = ProjectPaths.resolve(rest.remove(0));
      }
      int warmup = DEFAULT_WARMUP;
      int steps = DEFAULT_STEPS;
      Path fixture = null;
      List<Variant> variants = new ArrayList<>();
      List<String> global = new ArrayList<>();
      for (int i = 0; i < rest.size(); i++) {
        String a = rest.get(i);
        if (i + 1 >= rest.size()) {
          throw new ConfigException("command line: " + a + " needs a value");
        }
        String v = rest.get(++i);
        switch (a) {
          case "--warmup" -> warmup = positiveInt(a, v, 0);
          case "--steps" -> steps = positiveInt(a, v, 1);
          case "--variant" -> variants.add(Variant.parse(v));
          case "--variants" -> variants.addAll(variantSet(v));
          case "--model_fixture" -> fixture = ProjectPaths.resolve(v);
          default -> {
            global.add(a);
            global.add(v);
          }
        }
      }
      if (variants.isEmpty()) {
        variants.addAll(DEFAULT_VARIANTS);
      }
      if (fixture == null) {
        fixture = BenchModel.fixtureFor(config, ProjectPaths.resolve(DEFAULT_FIXTURE));
      }
      return new Plan(config, warmup, steps, fixture, variants, global);
    }

    private static List<Variant> variantSet(String name) {
      List<Variant> set = VARIANT_SETS.get(name);
      if (set == null) {
        throw new ConfigException("command line: --variants must be one of " + new java.util.TreeSet<>(
            VARIANT_SETS.keySet()) + ", got '" + name + "'");
      }
      return set;
    }
  }

  private static void printHeader(PrintStream out, Plan plan, TrainConfig base, Path modelDir) throws IOException {
    LlamaConfig model = LlamaConfig.read(modelDir);
    int threads = base.training().numThreads();
    out.printf("bench: %s, %d warm-up + %d measured steps per variant%n", plan.config(), plan.warmup(), plan.steps());
    out.printf("model: %s (hidden %d, %d layers, %d heads, %d KV heads, intermediate %d, vocab %d), float32%n",
        modelDir, model.hiddenSize(), model.numHiddenLayers(), model.numAttentionHeads(), model.numKeyValueHeads(),
        model.intermediateSize(), model.vocabSize());
    out.printf("data: %s, %d pairs per step, max_seq_len %d, %s threads%n", base.data().trainDatasetPath(),
        base.training().perDeviceTrainBatchSize() * base.training().gradientAccumulationSteps(),
        base.data().maxSeqLen(), threads == 0 ? "all" : String.valueOf(threads));
    out.printf("matmul peak: measured in each variant's JVM (TensorFlow float32 MatMul, %d^3, %s intra-op "
        + "threads, best of %d)%n%n", MATMUL_N, threads == 0 ? "default" : String.valueOf(threads), MatmulPeak.RUNS);
  }

  /** Runs one variant in its own JVM; its result, or null (reported) when it failed. */
  private static JsonObject runVariant(PrintStream out, Plan plan, TrainConfig base, Variant v, Path runs)
      throws IOException, InterruptedException {
    Path result = runs.resolve(v.slug() + ".json");
    Path log = runs.resolve(v.slug() + ".log");
    Files.deleteIfExists(result);
    List<String> command = new ArrayList<>();
    command.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
    command.addAll(heapOptions(base));
    command.addAll(List.of("-Dtfdpo.root=" + ProjectPaths.root(), "-cp", System.getProperty("java.class.path"),
        BenchMain.class.getName(), "--child", result.toString(), plan.config().toString(),
        String.valueOf(plan.warmup()), String.valueOf(plan.steps()), runs.resolve(v.slug()).toString()));
    command.addAll(plan.global());
    command.addAll(v.overrides());
    out.printf("%-32s running (log: %s) ...%n", v.name(), ProjectPaths.root().relativize(log));
    ProcessBuilder builder = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(log.toFile());
    builder.environment().putAll(v.env());
    int exit = builder.start().waitFor();
    if (exit != 0 || !Files.isRegularFile(result)) {
      out.printf("%-32s failed (exit %d); see %s%n", v.name(), exit, log);
      return null;
    }
    return GSON.fromJson(Files.readString(result), JsonObject.class);
  }

  static void printTable(PrintStream out, List<String> names, List<JsonObject> results) {
    out.printf("%-32s %7s %7s %7s %8s %6s %6s %7s %6s %6s %6s %6s %6s %5s%n", "variant", "s/step", "CPU s",
        "pairs/s", "tokens/s", "fill", "GFLOP", "GFLOP/s", "peak", "%peak", "1st s", "mean s", "RSS MB", "load");
    for (int i = 0; i < results.size(); i++) {
      JsonObject r = results.get(i);
      double median = r.get("median_step_s").getAsDouble();
      double gflop = r.get("gflop_per_step").getAsDouble();
      double peak = r.get("matmul_peak_gflops").getAsDouble();
      double cpu = r.has("median_step_cpu_s") ? r.get("median_step_cpu_s").getAsDouble() : Double.NaN;
      out.printf("%-32s %7.3f %7.2f %7.2f %8.0f %6.3f %6.1f %7.1f %6.1f %5.1f%% %6.2f %6.3f %6.0f %5.2f%n",
          names.get(i), median, cpu, r.get("pairs_per_step").getAsDouble() / median, r.get("real_tokens_per_step").getAsDouble() / median,
          r.get("fill").getAsDouble(), gflop, gflop / median, peak, 100 * gflop / median / peak,
          r.get("first_step_s").getAsDouble(), r.get("mean_step_s").getAsDouble(), r.get("peak_rss_mb").getAsDouble(),
          r.get("load").getAsDouble());
    }
    out.println();
    printStartup(out, names, results);
    out.println();
    out.println("s/step: median optimizer step; CPU s: median process CPU seconds (all threads) of a measured step;");
    out.println("pairs/s, tokens/s: per median step; tokens: chosen + rejected as TRL counts");
    out.println("them (prompt once per sequence); fill: non-padding share of the token slots fed; GFLOP: matmul FLOPs");
    out.println("executed per step (policy 3x forward, live reference 1x); peak: this JVM's matmul GFLOP/s;");
    out.println("%peak: GFLOP/s over that peak;");
    out.println("1st s: first step (graph executors, XLA compiles); load: 1-minute load average at the end.");
  }

  /** Where each variant's time before and including step 1 went (wall seconds; CPU seconds of all threads). */
  static void printStartup(PrintStream out, List<String> names, List<JsonObject> results) {
    out.printf("%-32s %13s %13s %13s %13s %13s %9s%n", "start-up (wall/CPU s)", "before graph", "graph build",
        "weights", "first step", "total", "process s");
    for (int i = 0; i < results.size(); i++) {
      if (results.get(i).has("startup")) {
        out.println(String.format("%-32s", names.get(i)) + startupColumns(results.get(i)) + rssSplit(results.get(i)));
      }
    }
    out.println("before graph: JVM, data, tokenizer, reference precompute; graph build: the training graph in Java");
    out.println("(and its session); weights: the first session run (TensorFlow receives the graph) and the weight");
    out.println("load; first step: step 1's runs, each building its executor on first use; process s: whole run.");
    out.println("rest of RSS: activations and TensorFlow's working memory, native libraries, transient weight");
    out.println("tensors.");
  }

  private static String startupColumns(JsonObject r) {
    JsonObject wall = r.getAsJsonObject("startup");
    JsonObject cpu = r.has("startup_cpu") ? r.getAsJsonObject("startup_cpu") : new JsonObject();
    StringBuilder line = new StringBuilder();
    double total = 0;
    double totalCpu = 0;
    for (String phase : List.of("before_graph_s", "graph_build_s", "weights_s", "first_step_s")) {
      double w = wall.has(phase) ? wall.get(phase).getAsDouble() : Double.NaN;
      double c = cpu.has(phase) ? cpu.get(phase).getAsDouble() : Double.NaN;
      total += w;
      totalCpu += c;
      line.append(String.format(" %6.1f/%6.1f", w, c));
    }
    return line.append(String.format(" %6.1f/%6.1f %9.1f", total, totalCpu, r.get("process_s").getAsDouble()))
        .toString();
  }

  /** Peak RSS as the graph's variables, the JVM heap and the rest. */
  private static String rssSplit(JsonObject r) {
    if (!r.has("variables_mb")) {
      return "";
    }
    double rss = r.get("peak_rss_mb").getAsDouble();
    double variables = r.get("variables_mb").getAsDouble();
    double heap = r.get("jvm_heap_peak_committed_mb").getAsDouble();
    return String.format("  RSS %.0f MB = variables %.0f + JVM heap %.0f (peak committed) + rest %.0f",
        rss, variables, heap, rss - variables - heap);
  }

  /**
   * The child's heap options, as scripts/train.sh sizes them (lib.sh's tfdpo_train_heap): nothing on the
   * heap grows with the model (weights load and checkpoints and exports write through native tensors in
   * 4 MB chunks), so 1 GiB plus twice the data files (gzipped ones 8x), and JavaCPP's resident-memory
   * cap (4x the heap) off: the graph's variables alone are 4-5x the model. The heap starts at 32 MB and
   * grows on demand up to that ceiling, shrinking again when a collection leaves over 30% free, so the
   * resident heap follows what the run holds (docs/memory.md, "Where the memory goes").
   */
  static List<String> heapOptions(TrainConfig config) throws IOException {
    long bytes = 0;
    for (String path : List.of(config.data().trainDatasetPath(), config.data().devDatasetPath())) {
      Path file = path.isEmpty() ? null : ProjectPaths.resolve(path);
      if (file != null && Files.isRegularFile(file)) {
        bytes += 2 * Files.size(file) * (file.toString().endsWith(".gz") ? 4 : 1);
      }
    }
    long megabytes = bytes / (1 << 20) + 1024;
    return List.of("-Xmx" + megabytes + "m", "-Xms32m", "-XX:MinHeapFreeRatio=10", "-XX:MaxHeapFreeRatio=30",
        "-Dorg.bytedeco.javacpp.maxPhysicalBytes=0");
  }

  private static Path modelDir(String path) {
    Path p = Path.of(path);
    if (p.isAbsolute()) {
      return p;
    }
    Path resolved = ProjectPaths.resolve(path);
    return Files.exists(resolved) ? resolved : ProjectPaths.root().resolve(p).normalize();
  }

  /**
   * Loads the config with each variant's overrides before anything runs, so a mistyped key or value
   * stops the benchmark at once, naming the variant, instead of after the variants before it.
   */
  static void checkVariants(Path config, List<String> global, List<Variant> variants) throws IOException {
    for (Variant v : variants) {
      List<String> overrides = new ArrayList<>(global);
      overrides.addAll(v.overrides());
      try {
        TrainConfig.load(config, overrides);
      } catch (ConfigException e) {
        throw new ConfigException("--variant \"" + v.name() + "\": " + e.getMessage());
      }
    }
  }

  private static int positiveInt(String key, String value, int min) {
    try {
      int n = Integer.parseInt(value);
      if (n >= min) {
        return n;
      }
    } catch (NumberFormatException e) {
      // reported below
    }
    throw new ConfigException("command line: " + key + " must be an integer >= " + min + ", got '" + value + "'");
  }

  // ---- child: one variant ----

  /** {@code --child RESULT CONFIG WARMUP STEPS OUTPUT_DIR [--key value ...]}. */
  static void child(List<String> args) throws IOException {
    Path result = Path.of(args.get(0));
    Path configFile = Path.of(args.get(1));
    int warmup = Integer.parseInt(args.get(2));
    int steps = Integer.parseInt(args.get(3));
    String outputDir = args.get(4);
    List<String> overrides = new ArrayList<>(args.subList(5, args.size()));
    overrides.addAll(List.of("--max_steps", String.valueOf(warmup + steps), "--logging_steps", "1",
        "--report_to", "none", "--output_dir", outputDir, "--overwrite_output_dir", "true"));
    TrainConfig config = TrainConfig.load(configFile, overrides);
    System.out.println("config: " + configFile + " " + String.join(" ", overrides));

    DpoTrainer.Result run = DpoTrainer.run(config, System.out, false);
    double processSeconds = ManagementFactory.getRuntimeMXBean().getUptime() / 1e3;
    // CPU seconds of the whole process so far: on a shared machine the steadier measure of the steps'
    // cost (this minus the start-up's CPU seconds is the steps after the first, plus the final save).
    double processCpuSeconds =
        ((com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean()).getProcessCpuTime() / 1e9;
    // RSS before the matmul measurement, whose operands would count towards it.
    double rss = peakRssMb();
    double peak = MatmulPeak.measure(MATMUL_N, config.training().numThreads());
    System.out.printf("matmul peak: %.1f GFLOP/s%n", peak);
    List<Map<String, Double>> logged = run.logged();
    if (logged.size() != warmup + steps) {
      throw new IllegalStateException("expected " + (warmup + steps) + " logged steps, got " + logged.size());
    }
    double[] seconds = run.stepSeconds().stream().mapToDouble(Double::doubleValue).toArray();

    StepStats stats = replay(config, warmup, steps);
    double[] measured = Arrays.copyOfRange(seconds, warmup, seconds.length);
    double median = median(measured);
    JsonObject out = new JsonObject();
    out.addProperty("median_step_s", median);
    out.addProperty("mean_step_s", Arrays.stream(measured).average().orElse(0));
    double[] cpu = run.stepCpuSeconds().stream().mapToDouble(Double::doubleValue).toArray();
    out.addProperty("median_step_cpu_s", median(Arrays.copyOfRange(cpu, warmup, cpu.length)));
    out.addProperty("first_step_s", seconds[0]);
    out.addProperty("pairs_per_step", stats.pairs / steps);
    out.addProperty("real_tokens_per_step", stats.realTokens / steps);
    out.addProperty("fill", stats.rowTokens / stats.slots);
    out.addProperty("gflop_per_step", stats.flops / steps / 1e9);
    out.addProperty("matmul_peak_gflops", peak);
    out.addProperty("peak_rss_mb", rss);
    out.addProperty("load", loadAverage());
    out.addProperty("process_s", processSeconds);
    out.addProperty("process_cpu_s", processCpuSeconds);
    out.add("startup", GSON.toJsonTree(run.startup()));
    out.add("startup_cpu", GSON.toJsonTree(run.startupCpu()));
    out.addProperty("variables_mb", run.variableBytes() / 1e6);
    out.addProperty("jvm_heap_peak_used_mb", heapPeak(false) / 1e6);
    out.addProperty("jvm_heap_peak_committed_mb", heapPeak(true) / 1e6);
    out.add("step_s", GSON.toJsonTree(seconds));
    Files.writeString(result, GSON.toJson(out), StandardCharsets.UTF_8);
    System.out.println("result: " + GSON.toJson(out));
  }

  static double median(double[] values) {
    double[] sorted = values.clone();
    Arrays.sort(sorted);
    return sorted.length % 2 == 1 ? sorted[sorted.length / 2]
        : (sorted[sorted.length / 2 - 1] + sorted[sorted.length / 2]) / 2;
  }

  /** Sums over the measured steps. */
  static final class StepStats {
    double pairs;
    double realTokens;
    double rowTokens;
    double slots;
    double flops;
  }

  /** The micro-batches of steps {@code warmup+1 .. warmup+steps}, as the trainer builds them. */
  static StepStats replay(TrainConfig config, int warmup, int steps) throws IOException {
    Path modelDir = ProjectPaths.resolve(config.model().modelNameOrPath());
    LlamaConfig model = LlamaConfig.read(modelDir);
    Path summary = Files.createTempFile("bench-summary", ".json");
    LoadedDataset data;
    try {
      data = TrainingData.load(config, modelDir, summary);
    } finally {
      Files.deleteIfExists(summary);
    }
    PairSource pairs = data.pairs();
    BatchBuilder builder = BatchBuilder.forConfig(config, model);
    boolean liveReference = !config.lossSpec().referenceFree() && !precomputedReference(config);
    int accumulation = config.training().gradientAccumulationSteps();
    EpochSampler sampler = new EpochSampler(pairs.size(), config.training().perDeviceTrainBatchSize(),
        config.data().trainSamplingStrategy().equals("random"), config.training().seed());
    StepStats s = new StepStats();
    int step = 0;
    for (int epoch = 0; step < warmup + steps; epoch++) {
      List<int[]> micro = sampler.epoch(epoch);
      for (int start = 0; start < micro.size() && step < warmup + steps; start += accumulation) {
        step++;
        if (step <= warmup) {
          continue;
        }
        for (int[] positions : micro.subList(start, Math.min(start + accumulation, micro.size()))) {
          List<TokenizedPair> group = new ArrayList<>();
          for (int p : positions) {
            group.add(pairs.get(p));
          }
          Batch b = builder.build(group);
          s.pairs += b.numPairs();
          s.realTokens += b.realTokens();
          s.rowTokens += b.rowTokens();
          s.slots += b.slots();
          s.flops += FlopCount.trainingStep(model, b, liveReference);
        }
      }
    }
    return s;
  }

  /** Whether the reference log-probs are precomputed (a key of builds that have it). */
  private static boolean precomputedReference(TrainConfig config) {
    JsonElement e = config.toJson().get("precompute_ref_log_probs");
    return e != null && e.isJsonPrimitive() && e.getAsJsonPrimitive().isBoolean() && e.getAsBoolean();
  }

  /** Peak used (or committed) bytes of the JVM's heap pools. */
  static long heapPeak(boolean committed) {
    long sum = 0;
    for (var pool : ManagementFactory.getMemoryPoolMXBeans()) {
      if (pool.getType() == MemoryType.HEAP && pool.getPeakUsage() != null) {
        sum += committed ? pool.getPeakUsage().getCommitted() : pool.getPeakUsage().getUsed();
      }
    }
    return sum;
  }

  /** Peak resident set size of this process (VmHWM), in MB. */
  static double peakRssMb() {
    try {
      for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
        if (line.startsWith("VmHWM:")) {
          return Long.parseLong(line.replaceAll("[^0-9]", "")) / 1024.0;
        }
      }
    } catch (IOException | NumberFormatException e) {
      // not Linux: no figure
    }
    return Double.NaN;
  }

  private static double loadAverage() {
    try {
      return Double.parseDouble(Files.readString(Path.of("/proc/loadavg")).split(" ")[0]);
    } catch (IOException | NumberFormatException e) {
      return Double.NaN;
    }
  }
}
