package dev.tfdpo.tokenizer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.tfdpo.data.Fixtures;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class TokenizerTest {

  private static Tokenizer tiny(String file) throws Exception {
    Path dir = Fixtures.get("tiny-llama-a");
    return Tokenizers.load(dir, dir.resolve(file));
  }

  @ParameterizedTest
  @ValueSource(strings = {"tokenizer.json", "tokenizer.model"})
  void tinyLlamaIdsAndVectors(String file) throws Exception {
    try (Tokenizer tok = tiny(file)) {
      assertEquals(2000, tok.vocabSize());
      assertEquals(1, tok.bosId());
      assertEquals(2, tok.eosId());
      assertEquals(0, tok.unkId());
      assertEquals(-1, tok.padId());
      assertEquals("</s>", tok.specialTokens().eos());
      // spm_encode vectors from test/fixtures/README.md ("Tokenizer test vectors")
      assertArrayEquals(new int[] {541, 291, 1927, 434, 310}, tok.encode("Hello world"));
      assertArrayEquals(new int[] {1924, 499, 1568, 480, 731}, tok.encode(" leading space"));
      assertArrayEquals(new int[] {1172, 397, 13, 1935, 393, 630}, tok.encode("line one\nline two"));
      assertArrayEquals(new int[] {1, 541, 291, 1927, 434, 310}, tok.encodeWithSpecialTokens("Hello world"));
      assertArrayEquals(new int[] {541, 291, 1927, 434, 310, 2}, tok.encode("Hello world</s>"));
      assertEquals("<0x0A>", tok.token(13));
      assertEquals(13, tok.id("<0x0A>"));
      assertEquals(-1, tok.id("no such piece"));
      assertThrows(IllegalArgumentException.class, () -> tok.token(2000));
      assertThrows(IllegalArgumentException.class, () -> tok.token(-1));
      assertThrows(IllegalArgumentException.class, () -> tok.decode(new int[] {5, 2000}));
      assertEquals("Hello world", tok.decode(tok.encode("Hello world")));
    }
  }

  @ParameterizedTest
  @ValueSource(strings = {"tokenizer.json", "tokenizer.model"})
  void longTextIsNotTruncated(String file) throws Exception {
    String text = "Hello world, line one. ".repeat(200);
    try (Tokenizer tok = tiny(file)) {
      int[] ids = tok.encode(text);
      assertTrue(ids.length > 1000, "got " + ids.length + " ids");
      assertEquals(text, tok.decode(ids));
    }
  }

  @Test
  void chineseRowsRoundTripAndBothBackendsAgree() throws Exception {
    List<String> rows = Files.readAllLines(Fixtures.get("data/pref-zh-32.jsonl"));
    assertEquals(32, rows.size());
    try (Tokenizer hf = tiny("tokenizer.json");
        Tokenizer spm = tiny("tokenizer.model")) {
      for (String line : rows) {
        JsonObject row = JsonParser.parseString(line).getAsJsonObject();
        for (String key : List.of("prompt", "chosen", "rejected")) {
          String text = row.get(key).getAsString();
          int[] a = hf.encode(text);
          assertArrayEquals(a, spm.encode(text), key + ": " + text);
          // byte fallback: no UNK, and decoding gives the text back (the dummy prefix is removed again)
          for (int id : a) {
            assertTrue(id != 0, "UNK in " + text);
          }
          assertEquals(text, hf.decode(a));
          assertEquals(text, spm.decode(a));
        }
      }
    }
  }

  @Test
  void unigramModelFromProtobuf() throws Exception {
    Path model = Fixtures.get("tokenizers/google-test-unigram-1k.model");
    try (SentencePieceTokenizer tok = SentencePieceTokenizer.load(model, TokenizerConfig.empty())) {
      assertEquals(1000, tok.vocabSize());
      assertEquals("unigram", tok.modelType());
      assertEquals(false, tok.byteFallback());
      assertEquals(0, tok.unkId());
      assertEquals(1, tok.bosId());
      assertEquals(2, tok.eosId());
      assertEquals("\r", tok.token(3));
      String text = "I saw a girl with a telescope.";
      int[] ids = tok.encode(text);
      assertEquals(text, tok.decode(ids));
      assertArrayEquals(ids, tok.encode(tok.decode(ids)));
      // NFKC and whitespace folding happen before encoding
      assertArrayEquals(tok.encode("ABC"), tok.encode("ＡＢＣ"));
      assertArrayEquals(tok.encode("a b"), tok.encode("a   b"));
      // no byte fallback: characters outside the model become UNK
      int[] zh = tok.encode("你好");
      assertTrue(java.util.Arrays.stream(zh).anyMatch(i -> i == 0));
      assertThrows(IllegalArgumentException.class, () -> tok.token(1000));
    }
  }

  @Test
  void directoryPrefersTokenizerJson() {
    Path dir = Fixtures.get("tiny-llama-a");
    Tokenizers.Located l = Tokenizers.locate(dir, null);
    assertEquals("tokenizer.json", l.tokenizerFile().getFileName().toString());
    assertEquals(64, l.fingerprint().length());
    IllegalArgumentException e =
        assertThrows(IllegalArgumentException.class, () -> Tokenizers.locate(Fixtures.get("data"), null));
    assertTrue(e.getMessage().contains("holds neither"), e.getMessage());
  }
}
