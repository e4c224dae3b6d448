package dev.tfdpo.tokenizer;

import java.util.Arrays;
import java.util.Locale;
import java.util.stream.Collectors;

/**
 * Chat templates selectable by name with the {@code chat_template} option, written in the same Jinja
 * dialect as Hugging Face templates (so they run through the same engine).
 */
public enum BuiltinTemplate {
  /** ChatML ({@code <|im_start|>role\n...<|im_end|>}), the DeepSpeed recipe's and ms-swift's default. */
  CHATML(
      "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content']"
          + " + '<|im_end|>' + '\\n' }}{% endfor %}"
          + "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"),
  /** Llama 2 chat ({@code [INST] ... [/INST]}, system in {@code <<SYS>>}), as in Meta's HF repos. */
  LLAMA2(
      "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}"
          + "{% set system_message = messages[0]['content'] %}"
          + "{% else %}{% set loop_messages = messages %}{% set system_message = false %}{% endif %}"
          + "{% for message in loop_messages %}"
          + "{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
          + "{{ raise_exception('llama2 template: roles must alternate user/assistant/user/...') }}{% endif %}"
          + "{% if loop.index0 == 0 and system_message != false %}"
          + "{% set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + message['content'] %}"
          + "{% else %}{% set content = message['content'] %}{% endif %}"
          + "{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}"
          + "{% elif message['role'] == 'assistant' %}{{ ' ' + content.strip() + ' ' + eos_token }}{% endif %}"
          + "{% endfor %}"),
  /** Llama 3 instruct ({@code <|start_header_id|>role<|end_header_id|>}). */
  LLAMA3(
      "{% for message in messages %}{% set content = '<|start_header_id|>' + message['role']"
          + " + '<|end_header_id|>\\n\\n' + message['content'] | trim + '<|eot_id|>' %}"
          + "{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}"
          + "{% endfor %}"
          + "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}"),
  /** Zephyr ({@code <|user|>\n...</s>}), the DPO recipe of the Zephyr paper. */
  ZEPHYR(
      "{% for message in messages %}{% if message['role'] == 'user' %}{{ '<|user|>\\n' + message['content']"
          + " + eos_token }}{% elif message['role'] == 'system' %}{{ '<|system|>\\n' + message['content']"
          + " + eos_token }}{% elif message['role'] == 'assistant' %}{{ '<|assistant|>\\n' + message['content']"
          + " + eos_token }}{% endif %}{% if loop.last and add_generation_prompt %}{{ '<|assistant|>' }}"
          + "{% endif %}{% endfor %}"),
  /**
   * Plain text for base models: {@code System: ...\n\n}, {@code Human: ...\n\n}, {@code Assistant: ...}
   * with EOS after the final reply, and {@code Assistant:} as generation prompt; the layout of the
   * project's {@code pref-en-64.jsonl}, so a reply becomes {@code " " + text + EOS} as in TRL's plain rows.
   */
  PLAIN(
      "{{ bos_token }}{% for m in messages %}{% if m['role'] == 'system' %}{{ 'System: ' + m['content']"
          + " + '\\n\\n' }}{% elif m['role'] == 'user' %}{{ 'Human: ' + m['content'] + '\\n\\n' }}"
          + "{% elif m['role'] == 'assistant' %}{{ 'Assistant: ' + m['content'] }}"
          + "{% if loop.last %}{{ eos_token }}{% else %}{{ '\\n\\n' }}{% endif %}{% endif %}{% endfor %}"
          + "{% if add_generation_prompt %}{{ 'Assistant:' }}{% endif %}");

  private final String source;

  BuiltinTemplate(String source) {
    this.source = source;
  }

  /** The Jinja source. */
  public String source() {
    return source;
  }

  /** The option value naming this template. */
  public String optionName() {
    return name().toLowerCase(Locale.ROOT);
  }

  /** The template called {@code name}, or null. */
  public static BuiltinTemplate byName(String name) {
    for (BuiltinTemplate t : values()) {
      if (t.optionName().equals(name)) {
        return t;
      }
    }
    return null;
  }

  /** The option values, comma-separated, for messages. */
  public static String names() {
    return Arrays.stream(values()).map(BuiltinTemplate::optionName).collect(Collectors.joining(", "));
  }
}
