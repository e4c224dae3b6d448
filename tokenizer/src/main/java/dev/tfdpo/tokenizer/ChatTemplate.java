package dev.tfdpo.tokenizer;

import com.hubspot.jinjava.Jinjava;
import com.hubspot.jinjava.JinjavaConfig;
import com.hubspot.jinjava.LegacyOverrides;
import com.hubspot.jinjava.interpret.RenderResult;
import com.hubspot.jinjava.interpret.TemplateError;
import com.hubspot.jinjava.lib.fn.ELFunctionDefinition;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;
import java.util.stream.Collectors;

/**
 * A Hugging Face style chat template rendered with Jinjava.
 *
 * <p>The engine is configured like transformers' sandbox: {@code trim_blocks} and {@code lstrip_blocks}
 * on, {@code {{-}}/{%-} whitespace control, Jinja string escapes and operator precedence, and no
 * re-rendering of message text that happens to contain {@code {{ }}}. Templates see {@code messages},
 * {@code add_generation_prompt}, {@code bos_token}, {@code eos_token}, {@code unk_token},
 * {@code pad_token} and {@code raise_exception(msg)}.
 *
 * <p>Jinjava calls Java methods on strings, not Python ones. {@code .strip()} exists in both; the
 * Python-only {@code startswith}, {@code endswith}, {@code lstrip()} and {@code rstrip()} are rewritten
 * to their Java names before compiling. Other Python string methods fail with the engine's message.
 */
public final class ChatTemplate {

  private static final ThreadLocal<String> RAISED = new ThreadLocal<>();
  private static final Jinjava JINJAVA = newEngine();
  private static final Map<Pattern, String> PYTHON_METHODS =
      Map.of(
          Pattern.compile("\\.startswith\\("), ".startsWith(",
          Pattern.compile("\\.endswith\\("), ".endsWith(",
          Pattern.compile("\\.lstrip\\(\\)"), ".stripLeading()",
          Pattern.compile("\\.rstrip\\(\\)"), ".stripTrailing()");

  private final String name;
  private final String source;

  private ChatTemplate(String name, String source) {
    this.name = name;
    // Jinja's keep_trailing_newline=False: one newline at the end of the template source is dropped.
    String s = source.endsWith("\n") ? source.substring(0, source.length() - 1) : source;
    for (Map.Entry<Pattern, String> e : PYTHON_METHODS.entrySet()) {
      s = e.getKey().matcher(s).replaceAll(e.getValue());
    }
    this.source = s;
  }

  private static Jinjava newEngine() {
    LegacyOverrides jinja2 =
        LegacyOverrides.newBuilder()
            .withUseTrimmingForNotesAndExpressions(true)
            .withParseWhitespaceControlStrictly(true)
            .withUseNaturalOperatorPrecedence(true)
            .withHandleBackslashInQuotesOnly(true)
            .withKeepNullableLoopValues(true)
            // Jinjava's "don't keep" strips the rendered output; Jinja strips the source (see constructor).
            .withDefaultKeepTrailingNewlineBehavior(true)
            .build();
    JinjavaConfig config =
        JinjavaConfig.newBuilder()
            .withNestedInterpretationEnabled(false)
            .withTrimBlocks(true)
            .withLstripBlocks(true)
            .withFailOnUnknownTokens(false)
            .withLegacyOverrides(jinja2)
            .build();
    Jinjava j = new Jinjava(config);
    j.getGlobalContext()
        .registerFunction(
            new ELFunctionDefinition("", "raise_exception", ChatTemplate.class, "raiseException", String.class));
    return j;
  }

  /** Target of the templates' {@code raise_exception}; public because Jinjava calls it reflectively. */
  public static String raiseException(String message) {
    RAISED.set(message);
    throw new IllegalArgumentException(message);
  }

  /** A template from Jinja source; {@code name} appears in error messages. */
  public static ChatTemplate of(String name, String source) {
    return new ChatTemplate(name, source);
  }

  /**
   * Resolves the {@code chat_template} option: a built-in name ({@link BuiltinTemplate#names()}), a
   * {@code .jinja} file, the name of one of the model's templates, or null for the model's default.
   */
  public static ChatTemplate select(String option, TokenizerConfig model) {
    if (option == null || option.isEmpty() || option.equals("model")) {
      String t = model.defaultChatTemplate();
      if (t == null) {
        throw new IllegalArgumentException(
            "the data set has chat messages but the model's tokenizer_config.json has no chat_template; "
                + "set chat_template to one of " + BuiltinTemplate.names() + " or to a .jinja file");
      }
      return of("model chat_template", t);
    }
    BuiltinTemplate builtin = BuiltinTemplate.byName(option);
    if (builtin != null) {
      return of(builtin.optionName(), builtin.source());
    }
    if (model.chatTemplates().containsKey(option)) {
      return of("model chat_template '" + option + "'", model.chatTemplates().get(option));
    }
    Path file = Path.of(option);
    if (option.endsWith(".jinja") && Files.isRegularFile(file)) {
      try {
        return of(option, Files.readString(file, StandardCharsets.UTF_8));
      } catch (IOException e) {
        throw new UncheckedIOException("cannot read chat template " + file, e);
      }
    }
    throw new IllegalArgumentException(
        "unknown chat_template '" + option + "': use one of " + BuiltinTemplate.names()
            + (model.chatTemplates().isEmpty() ? "" : ", the model's " + model.chatTemplates().keySet())
            + " or a path to an existing .jinja file");
  }

  /** The name used in messages. */
  public String name() {
    return name;
  }

  /**
   * Renders {@code messages}.
   *
   * @throws IllegalArgumentException with the template's own message when it calls
   *     {@code raise_exception}, or the engine's errors otherwise
   */
  public String render(List<Message> messages, boolean addGenerationPrompt, SpecialTokens special) {
    Map<String, Object> ctx = new HashMap<>();
    List<Map<String, Object>> list = new ArrayList<>(messages.size());
    for (Message m : messages) {
      list.add(m.asMap());
    }
    ctx.put("messages", list);
    ctx.put("add_generation_prompt", addGenerationPrompt);
    ctx.put("bos_token", nullToEmpty(special.bos()));
    ctx.put("eos_token", nullToEmpty(special.eos()));
    ctx.put("unk_token", nullToEmpty(special.unk()));
    ctx.put("pad_token", nullToEmpty(special.pad()));
    RAISED.remove();
    RenderResult r = JINJAVA.renderForResult(source, ctx);
    String raised = RAISED.get();
    RAISED.remove();
    if (raised != null) {
      throw new IllegalArgumentException("chat template (" + name + ") refused the messages: " + raised);
    }
    List<TemplateError> fatal =
        r.getErrors().stream()
            .filter(e -> e.getSeverity() == TemplateError.ErrorType.FATAL)
            .collect(Collectors.toList());
    if (!fatal.isEmpty()) {
      throw new IllegalArgumentException(
          "chat template (" + name + ") failed: "
              + fatal.stream()
                  .map(e -> "line " + e.getLineno() + ": " + e.getMessage() + " in '" + e.getFieldName() + "'")
                  .collect(Collectors.joining("; ")));
    }
    return r.getOutput();
  }

  private static String nullToEmpty(String s) {
    return s == null ? "" : s;
  }
}
