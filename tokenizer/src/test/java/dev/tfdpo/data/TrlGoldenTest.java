package dev.tfdpo.data;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.tfdpo.tokenizer.Tokenizer;
import dev.tfdpo.tokenizer.Tokenizers;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** Every row of pref-en-64 gives exactly the ids TRL fed (golden/a-sigmoid/tokens.jsonl). */
class TrlGoldenTest {

  @ParameterizedTest
  @ValueSource(strings = {"tokenizer.json", "tokenizer.model"})
  void plainRowsMatchTrl(String file) throws Exception {
    Path model = Fixtures.get("tiny-llama-a");
    List<String> rows = Files.readAllLines(Fixtures.get("data/pref-en-64.jsonl"));
    List<TokenizedPair> golden = TokenIdsJsonl.read(Fixtures.get("golden/a-sigmoid/tokens.jsonl"));
    assertEquals(64, rows.size());
    try (Tokenizer tok = Tokenizers.load(model, model.resolve(file))) {
      TrlTokenization trl = new TrlTokenization(tok);
      for (int i = 0; i < rows.size(); i++) {
        JsonObject row = JsonParser.parseString(rows.get(i)).getAsJsonObject();
        TokenizedPair p =
            trl.pair(i, row.get("prompt").getAsString(), row.get("chosen").getAsString(),
                row.get("rejected").getAsString());
        TokenizedPair g = golden.get(i);
        assertArrayEquals(g.promptIds(), p.promptIds(), file + " row " + i + " prompt");
        assertArrayEquals(g.chosenIds(), p.chosenIds(), file + " row " + i + " chosen");
        assertArrayEquals(g.rejectedIds(), p.rejectedIds(), file + " row " + i + " rejected");
      }
    }
  }
}
