package dev.tfdpo.io.hf;

import com.google.gson.Gson;
import com.google.gson.GsonBuilder;
import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.tfdpo.io.DurableFiles;
import dev.tfdpo.io.safetensors.DType;
import dev.tfdpo.io.safetensors.NamedTensor;
import dev.tfdpo.io.safetensors.SafeTensorsReader;
import dev.tfdpo.io.safetensors.SafeTensorsWriter;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A PEFT LoRA adapter directory: {@code adapter_config.json} ({@code r}, {@code lora_alpha}, {@code
 * use_rslora}, {@code target_modules}) and {@code adapter_model.safetensors}, whose keys are {@code
 * base_model.model.<projection>.lora_A.weight} {@code [r, in]} and {@code ...lora_B.weight} {@code
 * [out, r]}. In memory the tensors are keyed without the {@code base_model.model.} prefix (the
 * training graph's adapter names).
 *
 * @param rank r
 * @param alpha lora_alpha
 * @param rslora use_rslora
 * @param targets target_modules (short projection names)
 * @param tensors adapter tensors by graph name, in the file's order
 * @param shapes their shapes
 */
public record PeftAdapter(int rank, double alpha, boolean rslora, List<String> targets,
    Map<String, float[]> tensors, Map<String, long[]> shapes) {

  /** The projections of a Llama layer an adapter can target, Hugging Face names, in forward order. */
  public static final List<String> TARGET_MODULES =
      List.of("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj");

  /** PEFT's scaling {@code alpha / r}, or {@code alpha / sqrt(r)} with rsLoRA, rounded to float. */
  public static float scale(double alpha, int rank, boolean rslora) {
    return (float) (rslora ? alpha / Math.sqrt(rank) : alpha / rank);
  }

  /** PEFT's config file. */
  public static final String CONFIG_FILE = "adapter_config.json";

  /** PEFT's weight file. */
  public static final String WEIGHTS_FILE = "adapter_model.safetensors";

  /** The prefix PEFT's {@code PeftModelForCausalLM} puts in front of the base model's parameter names. */
  public static final String KEY_PREFIX = "base_model.model.";

  /** Reads an adapter directory; anything PEFT would not load as a plain LoRA adapter is refused. */
  public static PeftAdapter read(Path dir) throws IOException {
    Path configFile = dir.resolve(CONFIG_FILE);
    Path weights = dir.resolve(WEIGHTS_FILE);
    for (Path p : List.of(configFile, weights)) {
      if (!Files.isRegularFile(p)) {
        throw new IOException(dir + " is not a PEFT adapter directory: " + p.getFileName() + " is missing");
      }
    }
    JsonObject c = JsonParser.parseString(Files.readString(configFile)).getAsJsonObject();
    String type = string(c, "peft_type", "LORA");
    if (!type.equals("LORA")) {
      throw new IOException(configFile + ": peft_type is " + type + "; only LORA adapters can be loaded");
    }
    for (String unsupported : List.of("use_dora", "lora_bias")) {
      if (c.has(unsupported) && c.get(unsupported).isJsonPrimitive() && c.get(unsupported).getAsBoolean()) {
        throw new IOException(configFile + ": " + unsupported + " is true; tfdpo trains plain LoRA only");
      }
    }
    for (String pattern : List.of("rank_pattern", "alpha_pattern")) {
      if (c.has(pattern) && c.get(pattern).isJsonObject() && c.getAsJsonObject(pattern).size() > 0) {
        throw new IOException(configFile + ": " + pattern + " is set; per-module ranks and alphas are not supported");
      }
    }
    if (!c.has("r") || !c.has("lora_alpha") || !c.has("target_modules")) {
      throw new IOException(configFile + ": needs r, lora_alpha and target_modules");
    }
    List<String> targets = new ArrayList<>();
    JsonElement t = c.get("target_modules");
    if (t.isJsonArray()) {
      t.getAsJsonArray().forEach(e -> targets.add(e.getAsString()));
    } else {
      targets.add(t.getAsString());
    }
    boolean rslora = c.has("use_rslora") && c.get("use_rslora").getAsBoolean();
    Map<String, float[]> tensors = new LinkedHashMap<>();
    Map<String, long[]> shapes = new LinkedHashMap<>();
    try (SafeTensorsReader reader = SafeTensorsReader.open(weights)) {
      for (String key : reader.names()) {
        if (!key.startsWith(KEY_PREFIX) || !(key.endsWith(".lora_A.weight") || key.endsWith(".lora_B.weight"))) {
          throw new IOException(weights + ": unexpected tensor '" + key + "'; a PEFT LoRA adapter holds only "
              + KEY_PREFIX + "<module>.lora_A.weight and .lora_B.weight");
        }
        String name = key.substring(KEY_PREFIX.length());
        tensors.put(name, reader.readFloats(key));
        shapes.put(name, reader.info(key).shape());
      }
    }
    return new PeftAdapter(c.get("r").getAsInt(), c.get("lora_alpha").getAsDouble(), rslora, List.copyOf(targets),
        tensors, shapes);
  }

  private static String string(JsonObject o, String key, String fallback) {
    return o.has(key) && !o.get(key).isJsonNull() ? o.get(key).getAsString() : fallback;
  }

  /**
   * Writes the adapter as PEFT does ({@code adapter_config.json} + {@code adapter_model.safetensors},
   * float32), for {@code PeftModel.from_pretrained(base, dir)}.
   *
   * @param baseModel what {@code base_model_name_or_path} records
   */
  public void write(Path dir, String baseModel) throws IOException {
    Files.createDirectories(dir);
    List<NamedTensor> list = new ArrayList<>();
    tensors.forEach((name, data) -> list.add(new NamedTensor(KEY_PREFIX + name, shapes.get(name), data)));
    SafeTensorsWriter.write(dir.resolve(WEIGHTS_FILE), list, DType.F32, SafeTensorsWriter.PT_METADATA);
    JsonObject c = new JsonObject();
    c.addProperty("base_model_name_or_path", baseModel);
    c.addProperty("bias", "none");
    c.addProperty("fan_in_fan_out", false);
    c.addProperty("inference_mode", true);
    c.addProperty("init_lora_weights", true);
    c.addProperty("lora_alpha", alpha);
    c.addProperty("lora_dropout", 0.0);
    c.addProperty("peft_type", "LORA");
    c.addProperty("r", rank);
    JsonArray t = new JsonArray();
    targets.forEach(t::add);
    c.add("target_modules", t);
    c.addProperty("task_type", "CAUSAL_LM");
    c.addProperty("use_dora", false);
    c.addProperty("use_rslora", rslora);
    Gson gson = new GsonBuilder().setPrettyPrinting().create();
    byte[] text = (gson.toJson(c) + "\n").getBytes(StandardCharsets.UTF_8);
    DurableFiles.writeAtomically(dir.resolve(CONFIG_FILE), channel -> channel.write(java.nio.ByteBuffer.wrap(text)));
  }

  /** PEFT's scaling: {@code alpha / r}, or {@code alpha / sqrt(r)} with rsLoRA (rounded to float as the graph's). */
  public float scale() {
    return scale(alpha, rank, rslora);
  }

  /**
   * Merges the adapter into base weights, as PEFT's {@code merge_and_unload}: {@code W += s * B A} for
   * every adapted projection ({@code W [out, in]}, {@code B [out, r]}, {@code A [r, in]}); each sum
   * {@code (B A)[o, i]} is accumulated in double and rounded once. Export-time work, not training's.
   *
   * @param weights Hugging Face weights by name, changed in place
   * @throws IllegalArgumentException when a projection is missing or its shape does not fit
   */
  public void mergeInto(Map<String, float[]> weights) {
    float s = scale();
    for (String a : tensors.keySet()) {
      if (!a.endsWith(".lora_A.weight")) {
        continue;
      }
      String module = a.substring(0, a.length() - ".lora_A.weight".length());
      String b = module + ".lora_B.weight";
      float[] w = weights.get(module + ".weight");
      long[] aShape = shapes.get(a);
      long[] bShape = shapes.get(b);
      if (w == null || bShape == null || w.length != bShape[0] * aShape[1]) {
        throw new IllegalArgumentException("the adapter's " + module + " does not fit the base model ("
            + (w == null ? "no such weight" : w.length + " values for [" + bShape[0] + ", " + aShape[1] + "]") + ")");
      }
      int out = (int) bShape[0];
      int in = (int) aShape[1];
      int r = (int) aShape[0];
      float[] av = tensors.get(a);
      float[] bv = tensors.get(b);
      for (int o = 0; o < out; o++) {
        for (int i = 0; i < in; i++) {
          double sum = 0;
          for (int j = 0; j < r; j++) {
            sum += (double) bv[o * r + j] * av[j * in + i];
          }
          w[o * in + i] += (float) (s * sum);
        }
      }
    }
  }
}
