package dev.tfdpo.tokenizer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;

class ChatTemplateTest {

  private static final SpecialTokens LLAMA = new SpecialTokens("<s>", "</s>", "<unk>", null, 1, 2, 0, -1);
  private static final List<Message> CHAT =
      List.of(
          new Message("system", "Be brief."),
          new Message("user", "Hi {{ there }}"),
          new Message("assistant", "Hello."),
          new Message("user", "Bye"));

  private static String render(String name, List<Message> m, boolean gen) {
    return ChatTemplate.select(name, TokenizerConfig.empty()).render(m, gen, LLAMA);
  }

  @Test
  void builtins() {
    assertEquals(
        "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi {{ there }}<|im_end|>\n"
            + "<|im_start|>assistant\nHello.<|im_end|>\n<|im_start|>user\nBye<|im_end|>\n"
            + "<|im_start|>assistant\n",
        render("chatml", CHAT, true));
    assertEquals(
        "<s>[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nHi {{ there }} [/INST] Hello. </s><s>[INST] Bye [/INST]",
        render("llama2", CHAT, true));
    assertEquals(
        "<s><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>"
            + "<|start_header_id|>user<|end_header_id|>\n\nHi {{ there }}<|eot_id|>"
            + "<|start_header_id|>assistant<|end_header_id|>\n\nHello.<|eot_id|>"
            + "<|start_header_id|>user<|end_header_id|>\n\nBye<|eot_id|>"
            + "<|start_header_id|>assistant<|end_header_id|>\n\n",
        render("llama3", CHAT, true));
    assertEquals(
        "<|system|>\nBe brief.</s><|user|>\nHi {{ there }}</s><|assistant|>\nHello.</s><|user|>\nBye</s><|assistant|>",
        render("zephyr", CHAT, true));
    assertEquals(
        "<s>System: Be brief.\n\nHuman: Hi {{ there }}\n\nAssistant: Hello.\n\nHuman: Bye\n\nAssistant:",
        render("plain", CHAT, true));
    List<Message> full = new java.util.ArrayList<>(CHAT);
    full.add(new Message("assistant", "See you."));
    assertEquals(
        "<s>System: Be brief.\n\nHuman: Hi {{ there }}\n\nAssistant: Hello.\n\nHuman: Bye\n\nAssistant: See you.</s>",
        render("plain", full, false));
  }

  @Test
  void huggingFaceStyleTemplate() {
    // Whitespace control, trim_blocks, loop variables, namespace, raise_exception, Python string methods.
    String src =
        "{{- bos_token }}\n"
            + "{%- set ns = namespace(n=0) %}\n"
            + "{%- for message in messages %}\n"
            + "    {%- if message['role'] not in ['system', 'user', 'assistant'] %}\n"
            + "        {{- raise_exception('Unknown role: ' + message['role']) }}\n"
            + "    {%- endif %}\n"
            + "    {%- set ns.n = ns.n + 1 %}\n"
            + "    {{- '[' + loop.index0|string + (' last' if loop.last else '') + '] ' }}\n"
            + "    {{- message['content'].strip() if message['content'].startswith(' ') else message['content'] }}\n"
            + "    {{- '\\n' }}\n"
            + "{%- endfor %}\n"
            + "{%- if add_generation_prompt %}\n"
            + "    {{- 'GEN ' + ns.n|string }}\n"
            + "{%- endif %}\n";
    ChatTemplate t = ChatTemplate.of("hf", src);
    List<Message> m = List.of(new Message("user", "  padded "), new Message("assistant", "ok"));
    assertEquals("<s>[0] padded\n[1 last] ok\nGEN 2", t.render(m, true, LLAMA));
    assertEquals("<s>[0] padded\n[1 last] ok\n", t.render(m, false, LLAMA));
    IllegalArgumentException e =
        assertThrows(
            IllegalArgumentException.class,
            () -> t.render(List.of(new Message("tool", "x")), false, LLAMA));
    assertTrue(e.getMessage().contains("Unknown role: tool"), e.getMessage());
    IllegalArgumentException alt =
        assertThrows(
            IllegalArgumentException.class,
            () -> render("llama2", List.of(new Message("assistant", "x")), false));
    assertTrue(alt.getMessage().contains("must alternate"), alt.getMessage());
  }

  @Test
  void selection() {
    IllegalArgumentException none =
        assertThrows(IllegalArgumentException.class, () -> ChatTemplate.select(null, TokenizerConfig.empty()));
    assertTrue(none.getMessage().contains("has no chat_template"), none.getMessage());
    IllegalArgumentException bad =
        assertThrows(IllegalArgumentException.class, () -> ChatTemplate.select("vicuna", TokenizerConfig.empty()));
    assertTrue(bad.getMessage().contains("chatml, llama2, llama3, zephyr, plain"), bad.getMessage());
  }
}
