package dev.tfdpo.data;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import dev.tfdpo.tokenizer.ChatTemplate;
import dev.tfdpo.tokenizer.IntList;
import dev.tfdpo.tokenizer.Message;
import dev.tfdpo.tokenizer.Tokenizer;
import dev.tfdpo.tokenizer.TokenizerConfig;
import dev.tfdpo.tokenizer.Tokenizers;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;

/**
 * The data entry point: reads a data file in any supported format (or a preprocessed file), tokenizes it
 * with TRL's rules, applies the length limits and reports what happened.
 */
public final class DatasetLoader {

  private DatasetLoader() {}

  /** The file holds pairs where unpaired rows were asked for, or the other way round. */
  public static final class WrongKind extends IllegalArgumentException {
    public WrongKind(String message) {
      super(message);
    }
  }

  /**
   * Loads preference pairs. A preprocessed file ({@link PreprocessedFile}) is memory-mapped after its
   * tokenizer fingerprint and settings are checked against {@code options}; any other file is read and
   * tokenized now.
   *
   * @throws BadRowsException when rows are unusable and {@code on_bad_row} is {@code error}
   * @throws DataFormatException when the file cannot be read as data at all
   * @throws IllegalArgumentException for inconsistent options, missing tokenizer, unpaired data
   */
  public static LoadedDataset load(DataOptions options) throws IOException {
    if (PreprocessedFile.isPreprocessed(options.path())) {
      return PreprocessedFile.open(options);
    }
    List<TokenizedPair> pairs = new ArrayList<>();
    DataSummary summary = stream(options, pairs::add, null);
    return new LoadedDataset(new ListPairSource(pairs), summary);
  }

  /** Loads unpaired (KTO) examples: TRL/LLaMA-Factory {@code kto} rows or PaddleNLP KTO rows. */
  public static LoadedUnpaired loadUnpaired(DataOptions options) throws IOException {
    List<TokenizedCompletion> out = new ArrayList<>();
    DataSummary summary = stream(options, null, out::add);
    return new LoadedUnpaired(out, summary);
  }

  /**
   * Reads {@code options.path()} row by row, handing each usable pair to {@code pairs} (or each unpaired
   * example to {@code unpaired}; the other consumer is null) without keeping the rows.
   */
  static DataSummary stream(
      DataOptions options, Consumer<TokenizedPair> pairs, Consumer<TokenizedCompletion> unpaired)
      throws IOException {
    Path file = options.path();
    if (!Files.isRegularFile(file)) {
      throw new IllegalArgumentException("data file " + file + " does not exist");
    }
    Run run = new Run(options, pairs, unpaired);
    try (RowReader reader = new RowReader(file)) {
      RowReader.Row row;
      while ((row = reader.next()) != null) {
        run.row(row);
      }
    } finally {
      run.close();
    }
    return run.finish();
  }

  /** State of one pass over a file. */
  private static final class Run implements AutoCloseable {
    private final DataOptions o;
    private final Consumer<TokenizedPair> pairs;
    private final Consumer<TokenizedCompletion> unpaired;
    private DatasetFormat format;
    private Tokenizers.Located located;
    private Tokenizer tokenizer;
    private TrlTokenization trl;
    private ChatTemplate template;
    private LengthPolicy lengths;
    private long read;
    private long used;
    private long truncated;
    private long notPrefix;
    private final Map<String, Long> dropped = new HashMap<>();
    private final Map<String, Long> skipped = new HashMap<>();
    private final List<BadRowsException.Problem> problems = new ArrayList<>();
    private long problemCount;
    private final IntList promptLengths = new IntList();
    private final IntList completionLengths = new IntList();

    Run(DataOptions o, Consumer<TokenizedPair> pairs, Consumer<TokenizedCompletion> unpaired) {
      this.o = o;
      this.pairs = pairs;
      this.unpaired = unpaired;
      this.format = DatasetFormat.byName(o.datasetFormat());
      if (format == null && !o.mapKeys().isEmpty()) {
        // map_keys comes from MindSpeed, whose pairwise handler reads alpaca-style rows.
        format = DatasetFormat.ALPACA;
      }
    }

    void row(RowReader.Row row) {
      read++;
      long index = read - 1;
      try {
        if (row.error() != null) {
          throw row.error();
        }
        JsonObject obj = mapKeys(row.object());
        if (format == null) {
          format = DatasetFormat.detect(obj);
          if (format == null) {
            throw new IllegalArgumentException(
                o.path() + ":" + row.line() + ": cannot tell the data format from the fields " + obj.keySet()
                    + "; set dataset_format to one of " + DatasetFormat.names()
                    + " (and map_keys to rename columns)");
          }
        }
        handle(index, format.parse(obj));
      } catch (BadRowException e) {
        problem(row.line(), e);
      }
    }

    private JsonObject mapKeys(JsonObject row) {
      if (o.mapKeys().isEmpty()) {
        return row;
      }
      JsonObject out = row.deepCopy();
      for (Map.Entry<String, String> e : o.mapKeys().entrySet()) {
        String key = e.getKey();
        String column = e.getValue();
        if (column == null || column.isEmpty()) {
          out.remove(key);
          continue;
        }
        JsonElement v = row.get(column);
        if (!column.equals(key)) {
          out.remove(column);
        }
        if (v == null) {
          out.remove(key);
        } else {
          out.add(key, v);
        }
      }
      return out;
    }

    private void handle(long index, Example ex) {
      boolean wantUnpaired = unpaired != null;
      if (ex.unpaired() != wantUnpaired) {
        throw new WrongKind(
            o.path() + " holds " + (ex.unpaired() ? "unpaired (KTO) rows" : "preference pairs")
                + " (dataset_format " + format.optionName() + "), but "
                + (wantUnpaired ? "unpaired examples were requested" : "preference pairs were requested")
                + "; " + (ex.unpaired() ? "DPO needs chosen/rejected pairs" : "load it as pairs"));
      }
      // Java 17 has no pattern switch; the sealed interface keeps this list complete.
      if (ex instanceof Example.Ids ids) {
        pair(index, ids.prompt(), ids.chosen(), ids.rejected());
      } else if (ex instanceof Example.TextPair t) {
        int[] p = trl().prompt(t.prompt());
        pair(index, p, trl.completion(t.prompt(), p, t.chosen()), trl.completion(t.prompt(), p, t.rejected()));
      } else if (ex instanceof Example.ChatPair c) {
        int[] p = renderPrompt(c.prompt());
        pair(index, p, renderCompletion(c.prompt(), c.chosen(), p), renderCompletion(c.prompt(), c.rejected(), p));
      } else if (ex instanceof Example.TextUnpaired t) {
        int[] p = trl().prompt(t.prompt());
        single(index, p, trl.completion(t.prompt(), p, t.completion()), t.label());
      } else if (ex instanceof Example.ChatUnpaired c) {
        int[] p = renderPrompt(c.prompt());
        single(index, p, renderCompletion(c.prompt(), c.completion(), p), c.label());
      }
    }

    private void pair(long index, int[] prompt, int[] chosen, int[] rejected) {
      if (chosen.length == 0 || rejected.length == 0) {
        throw new BadRowException("empty_completion", "chosen or rejected completion has no tokens");
      }
      if (Arrays.equals(chosen, rejected)) {
        throw new BadRowException("identical", "chosen and rejected are identical: no preference to learn");
      }
      LengthPolicy.Result r = lengths().apply(prompt, chosen, rejected);
      if (r.dropReason() != null) {
        dropped.merge(r.dropReason(), 1L, Long::sum);
        return;
      }
      count(r);
      pairs.accept(new TokenizedPair(index, r.prompt(), r.completions()[0], r.completions()[1]));
    }

    private void single(long index, int[] prompt, int[] completion, boolean label) {
      if (completion.length == 0) {
        throw new BadRowException("empty_completion", "the completion has no tokens");
      }
      LengthPolicy.Result r = lengths().apply(prompt, completion);
      if (r.dropReason() != null) {
        dropped.merge(r.dropReason(), 1L, Long::sum);
        return;
      }
      count(r);
      unpaired.accept(new TokenizedCompletion(index, r.prompt(), r.completions()[0], label, completion));
    }

    private void count(LengthPolicy.Result r) {
      used++;
      if (r.truncated()) {
        truncated++;
      }
      promptLengths.add(r.prompt().length);
      for (int[] c : r.completions()) {
        completionLengths.add(c.length);
      }
    }

    private int[] renderPrompt(List<Message> prompt) {
      return trl().renderedPrompt(render(prompt, true));
    }

    private int[] renderCompletion(List<Message> prompt, List<Message> completion, int[] promptIds) {
      List<Message> all = new ArrayList<>(prompt);
      all.addAll(completion);
      int[] full = tokenizer.encode(render(all, false));
      if (full.length < promptIds.length
          || !Arrays.equals(full, 0, promptIds.length, promptIds, 0, promptIds.length)) {
        notPrefix++;
      }
      return full.length <= promptIds.length ? new int[0] : Arrays.copyOfRange(full, promptIds.length, full.length);
    }

    private String render(List<Message> messages, boolean generationPrompt) {
      if (template == null) {
        trl();
        template = ChatTemplate.select(o.chatTemplate(), TokenizerConfig.read(located.configDir()));
      }
      try {
        return template.render(messages, generationPrompt, tokenizer.specialTokens());
      } catch (IllegalArgumentException e) {
        throw new BadRowException("template_error", e.getMessage());
      }
    }

    private TrlTokenization trl() {
      if (trl == null) {
        located = Tokenizers.locate(o.modelDir(), o.tokenizerPath());
        try {
          tokenizer = Tokenizers.load(located);
        } catch (IOException e) {
          throw new IllegalArgumentException("cannot load tokenizer " + located.tokenizerFile() + ": " + e.getMessage(), e);
        }
        trl = new TrlTokenization(tokenizer);
      }
      return trl;
    }

    private LengthPolicy lengths() {
      if (lengths == null) {
        lengths = new LengthPolicy(o, tokenizer == null ? -1 : tokenizer.bosId());
      }
      return lengths;
    }

    private void problem(int line, BadRowException e) {
      problemCount++;
      if (o.onBadRow() == OnBadRow.SKIP) {
        skipped.merge(e.rule(), 1L, Long::sum);
      }
      if (problems.size() < DataSummary.MAX_LISTED) {
        problems.add(new BadRowsException.Problem(o.path(), line, e.rule(), e.getMessage()));
      }
    }

    DataSummary finish() {
      if (problemCount > 0 && o.onBadRow() == OnBadRow.ERROR) {
        throw new BadRowsException(o.path(), problems, problemCount);
      }
      if (used == 0) {
        throw new IllegalArgumentException(
            o.path() + ": no usable rows (" + read + " read, " + problemCount + " unusable, "
                + dropped.values().stream().mapToLong(Long::longValue).sum() + " dropped by length)");
      }
      return new DataSummary(
          o.path().toString(),
          format == null ? "unknown" : format.optionName(),
          tokenizer == null ? "none" : tokenizer.backend(),
          located == null ? null : located.fingerprint(),
          read, used, truncated, Map.copyOf(dropped), Map.copyOf(skipped), notPrefix,
          DataSummary.Lengths.of(promptLengths), DataSummary.Lengths.of(completionLengths));
    }

    /** The first problems seen (also when skipping), for logs. */
    List<BadRowsException.Problem> problems() {
      return problems;
    }

    @Override
    public void close() {
      if (tokenizer != null) {
        tokenizer.close();
      }
    }
  }
}
