package dev.tfdpo.data;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tfdpo.tokenizer.Tokenizer;
import dev.tfdpo.tokenizer.Tokenizers;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.zip.GZIPOutputStream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class DatasetLoaderTest {

  static final Path MODEL = Fixtures.get("tiny-llama-a");
  static Tokenizer tok;

  @TempDir Path tmp;

  @BeforeAll
  static void open() throws IOException {
    tok = Tokenizers.load(MODEL, null);
  }

  @AfterAll
  static void close() {
    tok.close();
  }

  // The 2k-piece test tokenizer needs many tokens for real text, hence the large limit.
  private static DataOptions opts(Path file) {
    return DataOptions.of(file, MODEL).withLengths(8192, 0, TruncationMode.KEEP_START);
  }

  private static String text(int[] ids) {
    return tok.decode(ids);
  }

  @Test
  void trlStandardFileMatchesGolden() throws IOException {
    LoadedDataset d = DatasetLoader.load(opts(Fixtures.get("data/pref-en-64.jsonl")).withLengths(256, 0, TruncationMode.KEEP_START));
    List<TokenizedPair> golden = TokenIdsJsonl.read(Fixtures.get("golden/a-sigmoid/tokens.jsonl"));
    assertEquals(64, d.pairs().size());
    for (int i = 0; i < 64; i++) {
      assertArrayEquals(golden.get(i).promptIds(), d.pairs().get(i).promptIds());
      assertArrayEquals(golden.get(i).chosenIds(), d.pairs().get(i).chosenIds());
      assertArrayEquals(golden.get(i).rejectedIds(), d.pairs().get(i).rejectedIds());
    }
    DataSummary s = d.summary();
    assertEquals("trl_standard", s.datasetFormat());
    assertEquals(64, s.rowsRead());
    assertEquals(64, s.used());
    assertEquals(0, s.truncated());
    assertTrue(s.completionLengths().max() <= 250 - 1);
    assertTrue(s.toJson().contains("\"rows_read\": 64"), s.toJson());
    assertTrue(s.format().contains("rows read 64, used 64"), s.format());
  }

  @Test
  void tokenIdsNeedNoTokenizer() throws IOException {
    DataOptions o = DataOptions.of(Fixtures.get("golden/a-sigmoid/tokens.jsonl"), null);
    LoadedDataset d = DatasetLoader.load(o);
    assertEquals(64, d.pairs().size());
    assertEquals("token_ids", d.summary().datasetFormat());
    assertEquals("none", d.summary().tokenizer());
  }

  @Test
  void sharegptWithPlainTemplateReproducesThePlainTextRows() throws IOException {
    // pref-en-64 was made from dpo_en_demo with exactly the 'plain' layout; row 0 was not shortened.
    LoadedDataset d =
        DatasetLoader.load(opts(Fixtures.get("data/llamafactory/dpo_en_demo-20.json")).withChatTemplate("plain"));
    assertEquals(20, d.pairs().size());
    assertEquals("sharegpt", d.summary().datasetFormat());
    TokenizedPair golden = TokenIdsJsonl.read(Fixtures.get("golden/a-sigmoid/tokens.jsonl")).get(0);
    assertArrayEquals(golden.promptIds(), d.pairs().get(0).promptIds());
    TokenizedPair p1 = d.pairs().get(1);
    assertTrue(text(p1.promptIds()).startsWith("System: You are a teacher."), text(p1.promptIds()));
    assertTrue(text(p1.promptIds()).endsWith("\n\nAssistant:"));
    assertEquals(2, p1.chosenIds()[p1.chosenIds().length - 1]);
    assertEquals(0, d.summary().promptNotPrefix());
  }

  @Test
  void sharegptWithChatml() throws IOException {
    LoadedDataset d =
        DatasetLoader.load(opts(Fixtures.get("data/llamafactory/dpo_en_demo-20.json")).withChatTemplate("chatml"));
    TokenizedPair p = d.pairs().get(0);
    assertEquals(
        "<|im_start|>user\nHi! I'd like to create a new language game simulating the first person perspective "
            + "of a character named Angela.<|im_end|>\n<|im_start|>assistant\n",
        text(p.promptIds()));
    assertTrue(text(p.chosenIds()).startsWith("That sounds like a fun and engaging idea!"));
    assertTrue(text(p.chosenIds()).endsWith("<|im_end|>\n"));
  }

  @Test
  void paddlenlpPairsAndKto() throws IOException {
    LoadedDataset d =
        DatasetLoader.load(
            opts(Fixtures.get("data/paddlenlp/dpo_data/train.json")).withChatTemplate("plain").withOnBadRow(OnBadRow.SKIP));
    assertEquals("paddlenlp", d.summary().datasetFormat());
    // upstream row 10 has the same text as chosen and rejected
    assertEquals(19, d.pairs().size());
    assertEquals(Map.of("identical", 1L), d.summary().skipped());
    TokenizedPair p = d.pairs().get(0);
    assertTrue(text(p.promptIds()).startsWith("Human: In this task, you are given a second sentence."), text(p.promptIds()));
    assertTrue(text(p.promptIds()).endsWith("by Silas Hudson .\n\nA:\n\nAssistant:"), text(p.promptIds()));
    // sort [1, 0]: the first response is chosen
    assertTrue(text(p.chosenIds()).startsWith("Could you provide some context or information"), text(p.chosenIds()));
    assertTrue(text(p.rejectedIds()).startsWith("As an AI assistant, it's essential to generate"));

    LoadedUnpaired k = DatasetLoader.loadUnpaired(opts(Fixtures.get("data/paddlenlp/kto_data/dev.jsonl")).withChatTemplate("plain"));
    assertEquals("paddlenlp_kto", k.summary().datasetFormat());
    assertEquals(8, k.examples().size());
    assertTrue(k.examples().get(0).desirable());
    assertEquals(false, k.examples().get(1).desirable());
    // rows 2k and 2k+1 share the prompt
    assertArrayEquals(k.examples().get(0).promptIds(), k.examples().get(1).promptIds());

    IllegalArgumentException e =
        assertThrows(IllegalArgumentException.class,
            () -> DatasetLoader.load(opts(Fixtures.get("data/paddlenlp/kto_data/dev.jsonl")).withChatTemplate("plain")));
    assertTrue(e.getMessage().contains("unpaired (KTO) rows"), e.getMessage());
  }

  @Test
  void llamaFactoryKto() throws IOException {
    LoadedUnpaired k =
        DatasetLoader.loadUnpaired(opts(Fixtures.get("data/llamafactory/kto_en_demo-20.json")).withChatTemplate("zephyr"));
    assertEquals("kto", k.summary().datasetFormat());
    assertEquals(20, k.examples().size());
    String prompt = text(k.examples().get(0).promptIds());
    assertTrue(prompt.startsWith("<|user|>\nThe Federal Trade Commission is going after spyware"), prompt);
    assertTrue(prompt.endsWith("<|assistant|>"), prompt);
    assertTrue(text(k.examples().get(0).completionIds()).startsWith("\nOoh ooh ah ah!"));
  }

  private Path write(String name, String... lines) throws IOException {
    Path f = tmp.resolve(name);
    Files.write(f, List.of(lines), StandardCharsets.UTF_8);
    return f;
  }

  @Test
  void smallFormats() throws IOException {
    record Case(String format, String row, String prompt, String chosen, String rejected) {}
    List<Case> cases =
        List.of(
            new Case("trl_standard", "{\"prompt\":\"Human: hi\\n\\nAssistant:\",\"chosen\":\" yes\",\"rejected\":\" no\"}",
                "Human: hi\n\nAssistant:", "yes", "no"),
            new Case("trl_standard", "{\"chosen\":\"Q: hi A: yes\",\"rejected\":\"Q: hi A: no\"}",
                "Q: hi A:", "yes", "no"),
            new Case("trl_conversational",
                "{\"prompt\":[{\"role\":\"user\",\"content\":\"hi\"}],\"chosen\":[{\"role\":\"assistant\",\"content\":\"yes\"}],"
                    + "\"rejected\":[{\"role\":\"assistant\",\"content\":\"no\"}]}",
                "Human: hi\n\nAssistant:", "yes", "no"),
            new Case("trl_conversational",
                "{\"chosen\":[{\"role\":\"user\",\"content\":\"hi\"},{\"role\":\"assistant\",\"content\":\"yes\"}],"
                    + "\"rejected\":[{\"role\":\"user\",\"content\":\"hi\"},{\"role\":\"assistant\",\"content\":\"no\"}]}",
                "Human: hi\n\nAssistant:", "yes", "no"),
            new Case("ultrafeedback",
                "{\"prompt\":\"hi\",\"chosen\":[{\"role\":\"user\",\"content\":\"hi\"},{\"role\":\"assistant\",\"content\":\"yes\"}],"
                    + "\"rejected\":[{\"role\":\"user\",\"content\":\"hi\"},{\"role\":\"assistant\",\"content\":\"no\"}],\"score_chosen\":8.0}",
                "Human: hi\n\nAssistant:", "yes", "no"),
            new Case("orca", "{\"system\":\"Be kind.\",\"question\":\"hi\",\"chosen\":\"yes\",\"rejected\":\"no\"}",
                "System: Be kind.\n\nHuman: hi\n\nAssistant:", "yes", "no"),
            new Case("nectar",
                "{\"prompt\":\"\\n\\nHuman: hi\\n\\nAssistant: hello\\n\\nHuman: ok?\\n\\nAssistant:\",\"answers\":["
                    + "{\"answer\":\"meh\",\"model\":\"a\",\"rank\":3},{\"answer\":\"yes\",\"model\":\"b\",\"rank\":1},"
                    + "{\"answer\":\"fine\",\"model\":\"c\",\"rank\":2}]}",
                "Human: hi\n\nAssistant: hello\n\nHuman: ok?\n\nAssistant:", "yes", "meh"),
            new Case("ms_swift",
                "{\"messages\":[{\"role\":\"system\",\"content\":\"S\"},{\"role\":\"user\",\"content\":\"hi\"},"
                    + "{\"role\":\"assistant\",\"content\":\"yes\"}],\"rejected_response\":\"no\"}",
                "System: S\n\nHuman: hi\n\nAssistant:", "yes", "no"),
            new Case("alpaca",
                "{\"instruction\":\"Add\",\"input\":\"1 2\",\"output\":[\"3\",\"4\"],\"history\":[[\"q\",\"a\"]]}",
                "Human: q\n\nAssistant: a\n\nHuman: Add\n1 2\n\nAssistant:", "3", "4"),
            new Case("paddlenlp",
                "{\"src\":[\"hi\",\"more\"],\"tgt\":[\"hello\"],\"response\":[{\"text\":\"bad\",\"sort\":1},{\"text\":\"good\",\"sort\":2}]}",
                "Human: hi\n\nAssistant: hello\n\nHuman: more\n\nAssistant:", "good", "bad"),
            new Case("paddlenlp", "{\"src\":\"hi\",\"tgt\":[],\"response\":[\"no\",\"yes\"],\"sort\":[0,1]}",
                "Human: hi\n\nAssistant:", "yes", "no"));
    int k = 0;
    for (Case c : cases) {
      Path f = write("case" + (k++) + ".jsonl", c.row());
      LoadedDataset d = DatasetLoader.load(opts(f).withChatTemplate("plain"));
      assertEquals(c.format(), d.summary().datasetFormat(), c.row());
      TokenizedPair p = d.pairs().get(0);
      assertEquals(c.prompt(), text(p.promptIds()), c.row());
      assertEquals(c.chosen(), text(p.chosenIds()).strip(), c.row());
      assertEquals(c.rejected(), text(p.rejectedIds()).strip(), c.row());
      assertEquals(2, p.chosenIds()[p.chosenIds().length - 1], "EOS ends the completion: " + c.row());
    }
  }

  @Test
  void mindspeedMapKeysOnOrcaStyleRows() throws IOException {
    Path f = write("orca.jsonl", "{\"system\":\"Be kind.\",\"question\":\"hi\",\"chosen\":\"yes\",\"rejected\":\"no\"}");
    DataOptions o = opts(f).withChatTemplate("plain").withMapKeys(Map.of("prompt", "question", "query", "", "system", "system"));
    LoadedDataset d = DatasetLoader.load(o);
    assertEquals("alpaca", d.summary().datasetFormat());
    assertEquals("System: Be kind.\n\nHuman: hi\n\nAssistant:", text(d.pairs().get(0).promptIds()));
  }

  @Test
  void gzipAndJsonArrayAreStreamed() throws IOException {
    Path f = tmp.resolve("pairs.json.gz");
    try (OutputStream out = new GZIPOutputStream(Files.newOutputStream(f))) {
      out.write(("  [\n {\"prompt\":\"a\",\"chosen\":\" b\",\"rejected\":\" c\"},\n"
          + " {\"prompt\":\"d\",\"chosen\":\" e\",\"rejected\":\" f\"}\n]").getBytes(StandardCharsets.UTF_8));
    }
    LoadedDataset d = DatasetLoader.load(opts(f));
    assertEquals(2, d.pairs().size());
    assertEquals(1, d.pairs().get(1).index());
  }

  @Test
  void modelChatTemplateFromTokenizerConfig() throws IOException {
    Path model = tmp.resolve("model");
    Files.createDirectories(model);
    Files.copy(MODEL.resolve("tokenizer.json"), model.resolve("tokenizer.json"));
    String cfg = Files.readString(MODEL.resolve("tokenizer_config.json")).trim();
    cfg = cfg.substring(0, cfg.length() - 1)
        + ",\"chat_template\": \"{{ bos_token }}{% for m in messages %}{{ '[' + m['role'] + '] ' + m['content'] }}"
        + "{% if m['role'] == 'assistant' %}{{ eos_token }}{% endif %}{% endfor %}"
        + "{% if add_generation_prompt %}{{ '[assistant]' }}{% endif %}\"}";
    Files.writeString(model.resolve("tokenizer_config.json"), cfg);
    Path f = write("c.jsonl", "{\"prompt\":[{\"role\":\"user\",\"content\":\"hi\"}],\"chosen\":[{\"role\":\"assistant\","
        + "\"content\":\"yes\"}],\"rejected\":[{\"role\":\"assistant\",\"content\":\"no\"}]}");
    LoadedDataset d = DatasetLoader.load(DataOptions.of(f, model));
    assertEquals("[user] hi[assistant]", text(d.pairs().get(0).promptIds()));
    IllegalArgumentException e =
        assertThrows(IllegalArgumentException.class, () -> DatasetLoader.load(DataOptions.of(f, MODEL)));
    assertTrue(e.getMessage().contains("no chat_template"), e.getMessage());
  }
}
