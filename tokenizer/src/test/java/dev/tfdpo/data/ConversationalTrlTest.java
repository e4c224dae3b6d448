package dev.tfdpo.data;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.tfdpo.tokenizer.ChatTemplate;
import dev.tfdpo.tokenizer.Message;
import dev.tfdpo.tokenizer.Tokenizer;
import dev.tfdpo.tokenizer.TokenizerConfig;
import dev.tfdpo.tokenizer.Tokenizers;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Conversational rows against TRL's DPO tokenization, with no TRL golden ids available: the expected ids
 * are derived here step by step from TRL's procedure (trl/trainer/dpo_trainer.py {@code _prepare_dataset}
 * and trl/data_utils.py {@code extract_prompt}, {@code _tokenize}; transformers'
 * {@code apply_chat_template}):
 *
 * <ol>
 *   <li>a row without {@code prompt}: prompt = the messages chosen and rejected share, split at the first
 *       index where they differ, or at min length - 1 when one list is a prefix of the other;
 *   <li>no EOS is appended to conversational completions;
 *   <li>{@code prompt_ids = tok(render(prompt, add_generation_prompt=True), add_special_tokens=False)},
 *       {@code full = tok(render(prompt + chosen), add_special_tokens=False)},
 *       {@code chosen_ids = full[len(prompt_ids):]}, even when prompt_ids is not a prefix of full.
 * </ol>
 *
 * <p>The rendered strings come from the real Jinja2 3.1.6 with transformers' environment settings
 * ({@code golden/chat-render/expected.json}, written by {@code make_expected.py} beside it, which also
 * applies rule 1); the ids from the project's tokenizer of {@code tiny-llama-a}, whose ids match TRL's
 * on the golden run. The loader must produce exactly these ids.
 */
class ConversationalTrlTest {

  static final Path MODEL = Fixtures.get("tiny-llama-a");
  static final Path ROWS = Fixtures.get("data/chat-trl-rows.jsonl");
  static JsonObject expected;
  static Tokenizer tok;

  @BeforeAll
  static void load() throws Exception {
    expected = JsonParser.parseString(Files.readString(Fixtures.get("golden/chat-render/expected.json")))
        .getAsJsonObject();
    tok = Tokenizers.load(MODEL, null);
  }

  @AfterAll
  static void close() {
    tok.close();
  }

  @Test
  void chatml() throws Exception {
    assertEquals(0, check("chatml", "chatml", false, false));
  }

  @Test
  void plainWithBosAndEosFromTheTemplate() throws Exception {
    check("plain", "plain", true, true);
  }

  @Test
  void llama3() throws Exception {
    check("llama3", "llama3", true, false);
  }

  @Test
  void promptIdsThatAreNotAPrefixAreSlicedAnyway() throws Exception {
    String key = "test/fixtures/golden/chat-render/glued.jinja";
    long notPrefix = check(key, Fixtures.get("golden/chat-render/glued.jinja").toString(), false, true);
    assertTrue(notPrefix > 0, "the glued template must produce the case TRL only warns about");
  }

  /**
   * Checks every row rendered with one template; returns how many completions had prompt ids that are
   * not a prefix of the full conversation's ids.
   *
   * @param key the template's entry in expected.json
   * @param option the chat_template option selecting it
   * @param templateBos whether the template writes bos_token first
   * @param eosLast whether the template ends a reply with eos_token
   */
  long check(String key, String option, boolean templateBos, boolean eosLast) throws Exception {
    String template = key;
    JsonArray cases = expected.getAsJsonObject("templates").getAsJsonArray(key);
    LoadedDataset loaded = DatasetLoader.load(DataOptions.of(ROWS, MODEL).withChatTemplate(option));
    assertEquals("trl_conversational", loaded.summary().datasetFormat());
    assertEquals(cases.size(), loaded.pairs().size());
    ChatTemplate engine = ChatTemplate.select(option, TokenizerConfig.empty());
    long notPrefix = 0;
    for (int i = 0; i < cases.size(); i++) {
      JsonObject c = cases.get(i).getAsJsonObject();
      String where = template + " row " + i;
      List<Message> prompt = messages(c.getAsJsonArray("prompt"));
      List<Message> chosen = messages(c.getAsJsonArray("chosen"));
      List<Message> rejected = messages(c.getAsJsonArray("rejected"));

      // Jinjava renders what Jinja2 renders.
      assertEquals(c.get("prompt_text").getAsString(), engine.render(prompt, true, tok.specialTokens()), where);
      assertEquals(c.get("prompt_chosen_text").getAsString(),
          engine.render(concat(prompt, chosen), false, tok.specialTokens()), where);
      assertEquals(c.get("prompt_rejected_text").getAsString(),
          engine.render(concat(prompt, rejected), false, tok.specialTokens()), where);

      // TRL's ids, step 3.
      int[] promptIds = tok.encode(c.get("prompt_text").getAsString());
      int[] fullChosen = tok.encode(c.get("prompt_chosen_text").getAsString());
      int[] fullRejected = tok.encode(c.get("prompt_rejected_text").getAsString());
      int[] chosenIds = Arrays.copyOfRange(fullChosen, promptIds.length, fullChosen.length);
      int[] rejectedIds = Arrays.copyOfRange(fullRejected, promptIds.length, fullRejected.length);
      notPrefix += isPrefix(promptIds, fullChosen) ? 0 : 1;
      notPrefix += isPrefix(promptIds, fullRejected) ? 0 : 1;

      TokenizedPair p = loaded.pairs().get(i);
      assertArrayEquals(promptIds, p.promptIds(), where + " prompt");
      assertArrayEquals(chosenIds, p.chosenIds(), where + " chosen");
      assertArrayEquals(rejectedIds, p.rejectedIds(), where + " rejected");

      // Special tokens come from the template only (add_special_tokens=False): one BOS where the
      // template writes bos_token, none otherwise; the completion ends as the template ends it.
      assertEquals(templateBos, p.promptIds()[0] == tok.bosId(), where);
      assertNotEquals(tok.bosId(), p.promptIds()[1], where);
      int last = p.chosenIds()[p.chosenIds().length - 1];
      if (eosLast) {
        assertEquals(tok.eosId(), last, where + ": the template ends the reply with eos_token");
      } else {
        assertNotEquals(tok.eosId(), last, where + ": no EOS appended to conversational completions");
      }
    }
    assertEquals(notPrefix, loaded.summary().promptNotPrefix(), template);
    System.out.printf("%s: %d conversational rows give TRL's ids (%d completions where the prompt's ids are "
        + "not a prefix)%n", template, cases.size(), notPrefix);
    return notPrefix;
  }

  @Test
  void implicitPromptFollowsTrlExtractPrompt() throws Exception {
    JsonArray cases = expected.getAsJsonObject("templates").getAsJsonArray("chatml");
    // Row 1: split at the first differing message.
    assertEquals(1, cases.get(1).getAsJsonObject().getAsJsonArray("prompt").size());
    // Row 2: a three-message shared prefix.
    assertEquals(3, cases.get(2).getAsJsonObject().getAsJsonArray("prompt").size());
    // Row 3: chosen is a prefix of rejected; TRL's loop ends on min length - 1 = 1, so the shared
    // assistant reply "Blue." starts both completions.
    JsonObject quirk = cases.get(3).getAsJsonObject();
    assertEquals(1, quirk.getAsJsonArray("prompt").size());
    assertEquals(1, quirk.getAsJsonArray("chosen").size());
    assertEquals(3, quirk.getAsJsonArray("rejected").size());
    // The same rule on plain strings (trl_standard without prompt).
    Path f = Files.createTempFile("implicit", ".jsonl");
    Files.writeString(f, "{\"chosen\": \"Q: hi A: yes\", \"rejected\": \"Q: hi A: yes, and more\"}\n");
    try {
      TokenizedPair p = DatasetLoader.load(DataOptions.of(f, MODEL)).pairs().get(0);
      // No difference within the shorter string: the split is at its last character ("s").
      assertArrayEquals(tok.encodeWithSpecialTokens("Q: hi A: ye"), p.promptIds());
      int[] full = tok.encodeWithSpecialTokens("Q: hi A: yes</s>");
      assertArrayEquals(Arrays.copyOfRange(full, p.promptIds().length, full.length), p.chosenIds());
    } finally {
      Files.delete(f);
    }
  }

  static boolean isPrefix(int[] prefix, int[] full) {
    return full.length >= prefix.length && Arrays.equals(full, 0, prefix.length, prefix, 0, prefix.length);
  }

  static List<Message> messages(JsonArray a) {
    List<Message> out = new ArrayList<>();
    for (JsonElement e : a) {
      JsonObject o = e.getAsJsonObject();
      out.add(new Message(o.get("role").getAsString(), o.get("content").getAsString()));
    }
    return out;
  }

  static List<Message> concat(List<Message> a, List<Message> b) {
    List<Message> out = new ArrayList<>(a);
    out.addAll(b);
    return out;
  }
}
