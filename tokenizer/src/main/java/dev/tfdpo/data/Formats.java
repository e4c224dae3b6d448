package dev.tfdpo.data;

import static dev.tfdpo.data.Json.array;
import static dev.tfdpo.data.Json.bool;
import static dev.tfdpo.data.Json.message;
import static dev.tfdpo.data.Json.messages;
import static dev.tfdpo.data.Json.optString;
import static dev.tfdpo.data.Json.required;
import static dev.tfdpo.data.Json.string;
import static dev.tfdpo.data.Json.text;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import dev.tfdpo.tokenizer.Message;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** The row parsers behind {@link DatasetFormat}: one static function per format. */
final class Formats {

  private Formats() {}

  // ---- TRL ------------------------------------------------------------------------------------

  /** {@code prompt}/{@code chosen}/{@code rejected} strings; without prompt, the shared prefix (TRL). */
  static Example trlStandard(JsonObject row) {
    String chosen = string(row, "chosen");
    String rejected = string(row, "rejected");
    if (Json.has(row, "prompt")) {
      return new Example.TextPair(string(row, "prompt"), chosen, rejected);
    }
    int n = Math.min(chosen.length(), rejected.length());
    int idx = sharedPrefix(chosen, rejected);
    if (idx == n) {
      // TRL's extract_prompt loops over the shorter length and splits where the loop stopped: without a
      // difference that is its last index, so the last shared character starts both completions.
      idx = n - 1;
    } else if (idx > 0 && chosen.charAt(idx - 1) == ' ') {
      // TRL's extract_prompt: a space right before the split belongs to the completions.
      idx--;
    }
    if (idx <= 0) {
      throw new BadRowException(
          "missing_field", "no 'prompt' and chosen/rejected share no prefix to use as implicit prompt");
    }
    return new Example.TextPair(chosen.substring(0, idx), chosen.substring(idx), rejected.substring(idx));
  }

  /** Message lists; without {@code prompt}, the messages chosen and rejected share (TRL). */
  static Example trlConversational(JsonObject row) {
    List<Message> chosen = messages(row, "chosen");
    List<Message> rejected = messages(row, "rejected");
    if (Json.has(row, "prompt")) {
      return pair(messages(row, "prompt"), chosen, rejected);
    }
    return implicitPrompt(chosen, rejected);
  }

  /** TRL unpaired: {@code prompt}/{@code completion}/{@code label}, text or messages; or LLaMA-Factory's {@code messages}/{@code label}. */
  static Example kto(JsonObject row) {
    boolean label = bool(row, "label");
    if (Json.has(row, "messages")) {
      List<Message> m = messages(row, "messages");
      Message last = m.get(m.size() - 1);
      if (!last.role().equals("assistant") || m.size() < 2) {
        throw new BadRowException(
            "wrong_structure", "'messages' must end with the assistant reply being judged, after a prompt");
      }
      return new Example.ChatUnpaired(m.subList(0, m.size() - 1), List.of(last), label);
    }
    if (Json.isArray(row, "completion")) {
      return new Example.ChatUnpaired(messages(row, "prompt"), messages(row, "completion"), label);
    }
    return new Example.TextUnpaired(string(row, "prompt"), string(row, "completion"), label);
  }

  // ---- PaddleNLP ------------------------------------------------------------------------------

  /** {@code src}/{@code tgt} turns, {@code response} candidates scored by {@code sort} (higher is better). */
  static Example paddle(JsonObject row) {
    List<Message> prompt = paddlePrompt(row);
    List<Scored> responses = paddleResponses(row);
    if (responses.size() < 2) {
      throw new BadRowException("wrong_structure", "'response' needs at least two candidates for a pair");
    }
    Scored best = responses.get(0);
    Scored worst = responses.get(0);
    for (Scored s : responses) {
      best = s.score > best.score ? s : best;
      worst = s.score < worst.score ? s : worst;
    }
    if (best.score == worst.score) {
      throw new BadRowException("tied_sort", "all 'sort' values are equal (" + best.score + "): no preference");
    }
    return pair(prompt, List.of(assistant(best.text)), List.of(assistant(worst.text)));
  }

  /** PaddleNLP KTO rows: one {@code response}, {@code sort} [1] desirable or [0] undesirable. */
  static Example paddleKto(JsonObject row) {
    List<Message> prompt = paddlePrompt(row);
    List<Scored> responses = paddleResponses(row);
    if (responses.size() != 1) {
      throw new BadRowException("wrong_structure", "a KTO row has exactly one 'response'");
    }
    double s = responses.get(0).score;
    if (s != 0 && s != 1) {
      throw new BadRowException("wrong_type", "KTO 'sort' must be [1] (desirable) or [0], found " + s);
    }
    return new Example.ChatUnpaired(prompt, List.of(assistant(responses.get(0).text)), s == 1);
  }

  private record Scored(String text, double score) {}

  private static List<Message> paddlePrompt(JsonObject row) {
    List<String> src = stringOrList(row, "src");
    List<String> tgt = Json.has(row, "tgt") ? stringOrListAllowEmpty(row, "tgt") : List.of();
    if (tgt.size() != src.size() - 1) {
      throw new BadRowException(
          "wrong_structure",
          "'tgt' must hold one reply per earlier 'src' turn: " + src.size() + " src, " + tgt.size() + " tgt");
    }
    List<Message> out = new ArrayList<>();
    for (int i = 0; i < src.size(); i++) {
      out.add(new Message("user", src.get(i)));
      if (i < tgt.size()) {
        out.add(assistant(tgt.get(i)));
      }
    }
    return out;
  }

  private static List<Scored> paddleResponses(JsonObject row) {
    JsonElement r = required(row, "response");
    List<Scored> out = new ArrayList<>();
    if (r.isJsonPrimitive()) {
      out.add(new Scored(text(r, "response"), sortAt(row, 0, 1)));
      return out;
    }
    if (!r.isJsonArray() || r.getAsJsonArray().isEmpty()) {
      throw new BadRowException("wrong_type", "'response' must be a string or a non-empty list");
    }
    JsonArray a = r.getAsJsonArray();
    for (int i = 0; i < a.size(); i++) {
      JsonElement e = a.get(i);
      if (e.isJsonObject()) {
        JsonObject o = e.getAsJsonObject();
        out.add(new Scored(string(o, "text"), number(required(o, "sort"), "response[" + i + "].sort")));
      } else {
        out.add(new Scored(text(e, "response[" + i + "]"), sortAt(row, i, a.size())));
      }
    }
    return out;
  }

  private static double sortAt(JsonObject row, int i, int n) {
    JsonArray sort = array(row, "sort");
    if (sort.size() != n) {
      throw new BadRowException(
          "wrong_structure", "'sort' has " + sort.size() + " values for " + n + " responses");
    }
    return number(sort.get(i), "sort[" + i + "]");
  }

  private static double number(JsonElement e, String where) {
    if (!e.isJsonPrimitive() || !e.getAsJsonPrimitive().isNumber()) {
      throw new BadRowException("wrong_type", "field '" + where + "' must be a number, found " + Json.kind(e));
    }
    return e.getAsDouble();
  }

  private static List<String> stringOrList(JsonObject row, String key) {
    List<String> out = stringOrListAllowEmpty(row, key);
    if (out.isEmpty()) {
      throw new BadRowException("empty_field", "field '" + key + "' is an empty list");
    }
    return out;
  }

  private static List<String> stringOrListAllowEmpty(JsonObject row, String key) {
    JsonElement e = required(row, key);
    if (e.isJsonArray()) {
      List<String> out = new ArrayList<>();
      for (int i = 0; i < e.getAsJsonArray().size(); i++) {
        out.add(text(e.getAsJsonArray().get(i), key + "[" + i + "]"));
      }
      return out;
    }
    return List.of(text(e, key));
  }

  // ---- LLaMA-Factory --------------------------------------------------------------------------

  /** sharegpt ranking: {@code conversations} ending with a human turn, {@code chosen}/{@code rejected} replies. */
  static Example sharegpt(JsonObject row) {
    List<Message> prompt = new ArrayList<>();
    String system = optString(row, "system");
    if (system != null) {
      prompt.add(new Message("system", system));
    }
    prompt.addAll(messages(row, "conversations"));
    if (!prompt.get(prompt.size() - 1).role().equals("user")) {
      throw new BadRowException("wrong_structure", "'conversations' must end with a human/user turn");
    }
    return pair(prompt, List.of(reply(row, "chosen")), List.of(reply(row, "rejected")));
  }

  /**
   * alpaca ranking: {@code instruction} (+ {@code input}), optional {@code system} and {@code history}
   * [[query, answer], ...], and either {@code output} [chosen, rejected] or {@code chosen}/{@code rejected}.
   * MindSpeed's names {@code prompt}/{@code query} are accepted for instruction/input.
   */
  static Example alpaca(JsonObject row) {
    String instructionKey = Json.has(row, "instruction") ? "instruction" : "prompt";
    String instruction = string(row, instructionKey);
    String input = optString(row, Json.has(row, "input") ? "input" : "query");
    String user = input == null ? instruction : instruction + "\n" + input;
    List<Message> prompt = new ArrayList<>();
    String system = optString(row, "system");
    if (system != null) {
      prompt.add(new Message("system", system));
    }
    if (Json.has(row, "history")) {
      JsonArray h = array(row, "history");
      for (int i = 0; i < h.size(); i++) {
        JsonElement turn = h.get(i);
        if (!turn.isJsonArray() || turn.getAsJsonArray().size() != 2) {
          throw new BadRowException("wrong_type", "'history[" + i + "]' must be [query, answer]");
        }
        prompt.add(new Message("user", text(turn.getAsJsonArray().get(0), "history[" + i + "][0]")));
        prompt.add(assistant(text(turn.getAsJsonArray().get(1), "history[" + i + "][1]")));
      }
    }
    prompt.add(new Message("user", user));
    String chosen;
    String rejected;
    if (Json.has(row, "output")) {
      JsonArray out = array(row, "output");
      if (out.size() != 2) {
        throw new BadRowException("wrong_structure", "'output' must be [chosen, rejected], found " + out.size() + " items");
      }
      chosen = text(out.get(0), "output[0]");
      rejected = text(out.get(1), "output[1]");
    } else {
      chosen = string(row, "chosen");
      rejected = string(row, "rejected");
    }
    return pair(prompt, List.of(assistant(chosen)), List.of(assistant(rejected)));
  }

  // ---- ms-swift -------------------------------------------------------------------------------

  /** {@code messages} ending with the chosen assistant reply, plus {@code rejected_response}. */
  static Example msSwift(JsonObject row) {
    List<Message> m = messages(row, "messages");
    Message last = m.get(m.size() - 1);
    if (!last.role().equals("assistant") || m.size() < 2) {
      throw new BadRowException(
          "wrong_structure", "'messages' must end with the chosen assistant reply, after a prompt");
    }
    return pair(m.subList(0, m.size() - 1), List.of(last), List.of(assistant(string(row, "rejected_response"))));
  }

  // ---- DeepSpeed recipe adapters --------------------------------------------------------------

  /** Intel/orca_dpo_pairs: {@code system} (may be empty), {@code question}, {@code chosen}, {@code rejected}. */
  static Example orca(JsonObject row) {
    List<Message> prompt = new ArrayList<>();
    String system = optString(row, "system");
    if (system != null) {
      prompt.add(new Message("system", system));
    }
    prompt.add(new Message("user", string(row, "question")));
    return pair(prompt, List.of(assistant(string(row, "chosen"))), List.of(assistant(string(row, "rejected"))));
  }

  private static final Pattern HH_TURN = Pattern.compile("(?:^|\\n\\n)(Human|Assistant):\\s?");

  /**
   * berkeley-nest/Nectar: {@code prompt} in Anthropic's "\n\nHuman: ...\n\nAssistant:" layout and
   * {@code answers} [{answer, rank}]; rank 1 is best, so best = lowest rank, rejected = highest.
   */
  static Example nectar(JsonObject row) {
    List<Message> prompt = hhTurns(string(row, "prompt"));
    JsonArray answers = array(row, "answers");
    String best = null;
    String worst = null;
    double bestRank = Double.POSITIVE_INFINITY;
    double worstRank = Double.NEGATIVE_INFINITY;
    for (int i = 0; i < answers.size(); i++) {
      if (!answers.get(i).isJsonObject()) {
        throw new BadRowException("wrong_type", "'answers[" + i + "]' must be an object {answer, rank}");
      }
      JsonObject a = answers.get(i).getAsJsonObject();
      double rank = number(required(a, "rank"), "answers[" + i + "].rank");
      String text = string(a, "answer");
      if (rank < bestRank) {
        bestRank = rank;
        best = text;
      }
      if (rank > worstRank) {
        worstRank = rank;
        worst = text;
      }
    }
    if (bestRank == worstRank) {
      throw new BadRowException("tied_sort", "all 'answers' have the same rank: no preference");
    }
    return pair(prompt, List.of(assistant(best)), List.of(assistant(worst)));
  }

  /** Splits "Human: ...\n\nAssistant: ..." text into messages; text without markers is one user turn. */
  static List<Message> hhTurns(String text) {
    Matcher m = HH_TURN.matcher(text);
    List<Message> out = new ArrayList<>();
    String role = null;
    int start = 0;
    while (m.find()) {
      if (role != null) {
        addTurn(out, role, text.substring(start, m.start()));
      }
      role = m.group(1).equals("Human") ? "user" : "assistant";
      start = m.end();
    }
    if (role == null) {
      return List.of(new Message("user", text));
    }
    addTurn(out, role, text.substring(start));
    if (out.isEmpty() || !out.get(out.size() - 1).role().equals("user")) {
      throw new BadRowException("wrong_structure", "'prompt' must end with a Human turn (then 'Assistant:')");
    }
    return out;
  }

  private static void addTurn(List<Message> out, String role, String content) {
    String c = content.strip();
    if (!c.isEmpty()) {
      out.add(new Message(role, c));
    }
  }

  /** HuggingFaceH4/ultrafeedback_binarized: full conversations in {@code chosen}/{@code rejected}. */
  static Example ultrafeedback(JsonObject row) {
    return implicitPrompt(messages(row, "chosen"), messages(row, "rejected"));
  }

  // ---- token ids --------------------------------------------------------------------------------

  static Example tokenIds(JsonObject row) {
    return new Example.Ids(ids(row, "prompt_input_ids"), ids(row, "chosen_input_ids"), ids(row, "rejected_input_ids"));
  }

  private static int[] ids(JsonObject row, String key) {
    JsonElement e = required(row, key);
    if (!e.isJsonArray()) {
      throw new BadRowException("wrong_type", "field '" + key + "' must be a list of token ids");
    }
    JsonArray a = e.getAsJsonArray();
    int[] out = new int[a.size()];
    for (int i = 0; i < out.length; i++) {
      JsonElement v = a.get(i);
      double d = v.isJsonPrimitive() && v.getAsJsonPrimitive().isNumber() ? v.getAsDouble() : -1;
      if (d != Math.rint(d) || d < 0 || d > Integer.MAX_VALUE) {
        throw new BadRowException("wrong_type", "field '" + key + "' item " + i + " is not a token id: " + v);
      }
      out[i] = (int) d;
    }
    return out;
  }

  // ---- shared ---------------------------------------------------------------------------------

  private static Message assistant(String text) {
    return new Message("assistant", text);
  }

  private static Message reply(JsonObject row, String key) {
    JsonElement e = required(row, key);
    return e.isJsonPrimitive() ? assistant(text(e, key)) : message(e, key);
  }

  private static Example pair(List<Message> prompt, List<Message> chosen, List<Message> rejected) {
    if (prompt.isEmpty()) {
      throw new BadRowException("empty_field", "the prompt has no messages");
    }
    return new Example.ChatPair(List.copyOf(prompt), List.copyOf(chosen), List.copyOf(rejected));
  }

  /**
   * TRL's {@code extract_prompt} on message lists: the split is the first index where the lists differ;
   * when one list is a prefix of the other, TRL's loop ends on its last index (shorter length - 1), so
   * the last shared message starts both completions.
   */
  private static Example implicitPrompt(List<Message> chosen, List<Message> rejected) {
    int n = Math.min(chosen.size(), rejected.size());
    int idx = 0;
    while (idx < n && chosen.get(idx).equals(rejected.get(idx))) {
      idx++;
    }
    if (idx == n) {
      idx = n - 1;
    }
    if (idx <= 0) {
      throw new BadRowException(
          "missing_field", "no 'prompt' and chosen/rejected share no leading messages to use as prompt");
    }
    return pair(chosen.subList(0, idx), chosen.subList(idx, chosen.size()), rejected.subList(idx, rejected.size()));
  }

  private static int sharedPrefix(String a, String b) {
    int n = Math.min(a.length(), b.length());
    int i = 0;
    while (i < n && a.charAt(i) == b.charAt(i)) {
      i++;
    }
    return i;
  }
}
