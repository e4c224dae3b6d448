package dev.tfdpo.graphs.training;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.tensorflow.ndarray.Shape;

/**
 * {@link OptimizerUpdate#updateOrder}: on one device the tensors are updated smallest first, so that a
 * vocabulary-sized embedding's temporaries meet only its own gradient, not the whole model's; ties and
 * sharded updates keep the parameters' order.
 */
class OptimizerUpdateOrderTest {

  private static final Map<String, Shape> SHAPES = new LinkedHashMap<>();

  static {
    SHAPES.put("model.embed_tokens.weight", Shape.of(49152, 576));
    SHAPES.put("model.layers.0.input_layernorm.weight", Shape.of(576));
    SHAPES.put("model.layers.0.self_attn.q_proj.weight", Shape.of(576, 576));
    SHAPES.put("model.layers.0.self_attn.k_proj.weight", Shape.of(192, 576));
    SHAPES.put("model.layers.0.self_attn.v_proj.weight", Shape.of(192, 576));
    SHAPES.put("model.layers.0.post_attention_layernorm.weight", Shape.of(576));
    SHAPES.put("model.norm.weight", Shape.of(576));
  }

  private static final List<String> NAMES = List.copyOf(SHAPES.keySet());

  @Test
  void smallestFirstTheEmbeddingLast() {
    assertEquals(List.of(
            "model.layers.0.input_layernorm.weight",
            "model.layers.0.post_attention_layernorm.weight",
            "model.norm.weight",
            "model.layers.0.self_attn.k_proj.weight",
            "model.layers.0.self_attn.v_proj.weight",
            "model.layers.0.self_attn.q_proj.weight",
            "model.embed_tokens.weight"),
        OptimizerUpdate.updateOrder(NAMES, SHAPES, false));
  }

  @Test
  void shardedUpdatesKeepTheParametersOrder() {
    assertEquals(NAMES, OptimizerUpdate.updateOrder(NAMES, SHAPES, true));
  }
}
