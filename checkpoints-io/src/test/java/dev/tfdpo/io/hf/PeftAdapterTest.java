package dev.tfdpo.io.hf;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tfdpo.io.safetensors.DType;
import dev.tfdpo.io.safetensors.NamedTensor;
import dev.tfdpo.io.safetensors.SafeTensorsReader;
import dev.tfdpo.io.safetensors.SafeTensorsWriter;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** PEFT adapter directories: PEFT's own files read, written files read back, foreign ones refused. */
class PeftAdapterTest {

  static final Path ROOT = Path.of(System.getProperty("tfdpo.root", "..")).toAbsolutePath().normalize();
  static final Path INIT = ROOT.resolve("test/fixtures/golden/lora/a-lora-r4-init");

  @TempDir Path dir;

  @Test
  void readsPeftsFilesAndWritesThemBack() throws IOException {
    PeftAdapter peft = PeftAdapter.read(INIT);
    assertEquals(4, peft.rank());
    assertEquals(8.0, peft.alpha());
    assertEquals(7, peft.targets().size());
    assertEquals(2 * 7 * 2, peft.tensors().size(), "A and B of 7 projections in 2 layers");
    assertArrayEquals(new long[] {4, 64}, peft.shapes().get("model.layers.0.self_attn.q_proj.lora_A.weight"));
    assertArrayEquals(new long[] {176, 4}, peft.shapes().get("model.layers.1.mlp.up_proj.lora_B.weight"));

    peft.write(dir, "tiny-llama-a");
    PeftAdapter back = PeftAdapter.read(dir);
    assertEquals(peft.rank(), back.rank());
    assertEquals(peft.alpha(), back.alpha());
    assertEquals(peft.targets(), back.targets());
    for (String name : peft.tensors().keySet()) {
      assertArrayEquals(peft.tensors().get(name), back.tensors().get(name), 0f, name);
    }
    // PEFT's key names in the file.
    try (SafeTensorsReader r = SafeTensorsReader.open(dir.resolve(PeftAdapter.WEIGHTS_FILE))) {
      assertTrue(r.contains("base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight"));
    }
  }

  @Test
  void refusesWhatIsNotAPlainLoraAdapter() throws IOException {
    IOException missing = assertThrows(IOException.class, () -> PeftAdapter.read(dir));
    assertTrue(missing.getMessage().contains("adapter_config.json"), missing.getMessage());
    Files.writeString(dir.resolve(PeftAdapter.CONFIG_FILE),
        "{\"peft_type\": \"LORA\", \"r\": 2, \"lora_alpha\": 4, \"target_modules\": [\"q_proj\"], \"use_dora\": true}");
    SafeTensorsWriter.write(dir.resolve(PeftAdapter.WEIGHTS_FILE),
        List.of(new NamedTensor("base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight", new long[] {2, 2},
            new float[4])), DType.F32, Map.of());
    assertTrue(assertThrows(IOException.class, () -> PeftAdapter.read(dir)).getMessage().contains("use_dora"));
    Files.writeString(dir.resolve(PeftAdapter.CONFIG_FILE),
        "{\"peft_type\": \"LORA\", \"r\": 2, \"lora_alpha\": 4, \"target_modules\": [\"q_proj\"]}");
    SafeTensorsWriter.write(dir.resolve(PeftAdapter.WEIGHTS_FILE),
        List.of(new NamedTensor("model.layers.0.self_attn.q_proj.weight", new long[] {2, 2}, new float[4])),
        DType.F32, Map.of());
    assertTrue(assertThrows(IOException.class, () -> PeftAdapter.read(dir)).getMessage().contains("unexpected"));
  }
}
