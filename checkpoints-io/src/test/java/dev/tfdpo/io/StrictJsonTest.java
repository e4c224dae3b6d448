package dev.tfdpo.io;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonElement;
import com.google.gson.JsonParser;
import com.google.gson.stream.JsonReader;
import java.io.StringReader;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The one strict JSON reader: what Gson's default parser would accept silently is an error here. */
class StrictJsonTest {

  @Test
  void parsesWhatGsonParsesToTheSameTree() throws Exception {
    String text = "{\"a\": [1, 2.5e-3, -0, true, null, \"x\\u00e9\"], \"b\": {\"c\": {}}, \"d\": 12345678901234567890}";
    JsonElement ours = StrictJson.parse(text);
    assertEquals(JsonParser.parseString(text), ours);
    assertEquals("2.5e-3", ours.getAsJsonObject().getAsJsonArray("a").get(1).getAsString(), "numbers keep their text");
  }

  @Test
  void aKeyGivenTwiceIsAnErrorNamingTheKeyAndLine() {
    StrictJson.Invalid e = assertThrows(StrictJson.Invalid.class,
        () -> StrictJson.parse("{\n  \"beta\": 0.1,\n  \"inner\": {\"k\": 1,\n \"k\": 2}\n}"));
    assertEquals("k", e.duplicateKey());
    assertTrue(e.getMessage().startsWith("key 'k' at line 4 is given twice"), e.getMessage());
  }

  @Test
  void lenientSyntaxIsRefusedWithoutGsonsAdvice() {
    for (String text : List.of("{a: 1}", "{'a': 1}", "[1, 2,]", "{\"a\": NaN}", "{\"a\": 1} x", "{\"a\": 1", "")) {
      StrictJson.Invalid e = assertThrows(StrictJson.Invalid.class, () -> StrictJson.parse(text), text);
      assertNull(e.duplicateKey(), text);
      assertFalse(e.getMessage().contains("setStrictness") || e.getMessage().contains("github.com"), e.getMessage());
    }
  }

  @Test
  void deepNestingIsAnErrorNotAStackOverflow() {
    String deep = "[".repeat(100_000) + "]".repeat(100_000);
    StrictJson.Invalid e = assertThrows(StrictJson.Invalid.class, () -> StrictJson.parse(deep));
    assertTrue(e.getMessage().contains("nested deeper than 255 levels"), e.getMessage());
  }

  @Test
  void aStreamGoesOnAfterAValueWithADuplicateKey() throws Exception {
    JsonReader reader = new JsonReader(new StringReader("[{\"a\": 1, \"a\": 2}, {\"b\": 3}]"));
    reader.beginArray();
    StrictJson.Invalid e = assertThrows(StrictJson.Invalid.class, () -> StrictJson.next(reader));
    assertEquals("a", e.duplicateKey());
    assertEquals(3, StrictJson.next(reader).getAsJsonObject().get("b").getAsInt(), "the whole bad value was read");
    reader.endArray();
  }
}
