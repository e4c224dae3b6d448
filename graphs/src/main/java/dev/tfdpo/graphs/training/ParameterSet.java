package dev.tfdpo.graphs.training;

import dev.tfdpo.graphs.Llama;
import dev.tfdpo.graphs.LoraAdapters;
import dev.tfdpo.io.hf.LlamaWeights;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.tensorflow.Operand;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.op.core.Variable;
import org.tensorflow.types.TFloat32;

/**
 * The parameter seam: the weights a training graph differentiates and updates. Everything else the graph
 * holds (a live reference, a frozen base) is read only and has no gradient, accumulator or optimizer
 * state. Today the set is every weight of the policy; LoRA adapters over a frozen base, or a base in
 * another dtype, are another set built here, with no change to the gradient or update parts.
 *
 * @param variables the trainable variables by Hugging Face name, in forward order
 * @param reads the values the forward pass reads them through, in the same order (the gradient's
 *     {@code x})
 * @param shapes each variable's shape
 * @param decays whether AdamW's weight decay applies to each
 * @param lrScales learning-rate multipliers of some parameters (LoRA+ on the B matrices); absent: 1
 */
public record ParameterSet(
    Map<String, Variable<TFloat32>> variables,
    List<Operand<TFloat32>> reads,
    Map<String, Shape> shapes,
    Map<String, Boolean> decays,
    Map<String, Float> lrScales) {

  /** Every weight of {@code model} is trained (full fine-tuning). */
  public static ParameterSet wholeModel(Llama model) {
    LlamaWeights table = LlamaWeights.of(model.config());
    Map<String, Shape> shapes = new java.util.LinkedHashMap<>();
    Map<String, Boolean> decays = new java.util.LinkedHashMap<>();
    for (String name : model.variables().keySet()) {
      LlamaWeights.Entry entry = table.entry(name);
      shapes.put(name, Shape.of(entry.shape()));
      decays.put(name, entry.kind().decays());
    }
    return new ParameterSet(model.variables(), new ArrayList<>(model.reads().values()), shapes, decays, Map.of());
  }

  /**
   * Only the LoRA adapters are trained; the base model they sit on is frozen (no gradient, accumulator or
   * optimizer state). Every adapter matrix decays (PEFT's parameters all land in the decay group); with
   * LoRA+ ({@code plusScale != 1}) the B matrices learn at {@code plusScale} times the learning rate.
   */
  public static ParameterSet adapters(LoraAdapters lora, float plusScale) {
    Map<String, Boolean> decays = new java.util.LinkedHashMap<>();
    Map<String, Float> scales = new java.util.LinkedHashMap<>();
    for (String name : lora.variables().keySet()) {
      decays.put(name, true);
      if (plusScale != 1f && LoraAdapters.isB(name)) {
        scales.put(name, plusScale);
      }
    }
    return new ParameterSet(lora.variables(), new ArrayList<>(lora.reads().values()), lora.shapes(), decays, scales);
  }

  /** The learning-rate multiplier of parameter {@code name} (1 unless LoRA+ set one). */
  public float lrScale(String name) {
    return lrScales.getOrDefault(name, 1f);
  }

  /** Names of the trainable weights, in forward order. */
  public List<String> names() {
    return List.copyOf(variables.keySet());
  }
}
