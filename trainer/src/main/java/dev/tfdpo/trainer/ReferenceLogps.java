package dev.tfdpo.trainer;

import com.google.gson.GsonBuilder;
import com.google.gson.JsonObject;
import dev.tfdpo.data.PairSource;
import dev.tfdpo.graphs.training.Batch;
import dev.tfdpo.graphs.training.ReferencePass;
import dev.tfdpo.io.hf.LlamaConfig;
import dev.tfdpo.io.safetensors.SafeTensorsReader;
import dev.tfdpo.ops.CompletionLogProbs;
import dev.tfdpo.ops.Precision;
import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.function.Function;

/**
 * Reference log-probs of every training pair, computed once before training ({@code
 * precompute_ref_log_probs}) and cached on disk, so that the training graph holds no reference weights.
 *
 * <p>What is cached is what the loss reads: the per-sequence completion log-prob sums, LD-weighted when
 * {@code ld_alpha < 1}, by data-set row. The file is named by a SHA-256 fingerprint of everything the
 * numbers depend on: the reference's {@code config.json} and safetensors bytes, {@code ld_alpha}, and
 * every batch the pass feeds (token ids after tokenization and length limits, positions, segments,
 * layout, batch composition). A run whose fingerprint has a file reuses it without building the
 * reference at all.
 *
 * <p>The pass runs over the data in file order in batches of {@code precompute_ref_batch_size}
 * pairs, collated by the trainer's own collate function. With sequential sampling and the default
 * batch size these are exactly the training micro-batches, so the values are bitwise those a live
 * reference computes. With random sampling a pair meets other pairs (other padding) in training than
 * in the pass; its value is the same up to float32 rounding (measured: 2e-7 relative), as in TRL, whose
 * precompute also batches differently from training.
 */
public final class ReferenceLogps {

  /** Cache file name suffix. */
  public static final String EXTENSION = ".reflogps";

  private static final byte[] MAGIC = "TFDPOREF".getBytes(StandardCharsets.US_ASCII);
  private static final int VERSION = 1;
  private static final int HEADER_BYTES = MAGIC.length + 4 + 32 + 4;

  private final long[] rows;
  private final float[] chosen;
  private final float[] rejected;
  private final Path file;
  private final boolean reused;

  private ReferenceLogps(long[] rows, float[] chosen, float[] rejected, Path file, boolean reused) {
    this.rows = rows;
    this.chosen = chosen;
    this.rejected = rejected;
    this.file = file;
    this.reused = reused;
  }

  /**
   * How the pass is run.
   *
   * @param cacheDir directory of the cache files
   * @param referenceDir the reference model directory
   * @param model its architecture
   * @param ldAlpha LD-DPO alpha of the loss
   * @param batchSize pairs per pass batch
   * @param threads as {@code num_threads}
   * @param compute the products' precision (bf16 runs precompute in bf16; part of the cache fingerprint)
   * @param adapter a LoRA run's starting adapter ({@code lora_path}) the reference runs with; null: none
   * @param target how the pass reads the target logit: as the training graph does (a LoRA run's
   *     {@code ROW_PRODUCT}, its head being frozen), so the fed values are bitwise the live reference's;
   *     part of the fingerprint
   */
  public record Pass(Path cacheDir, Path referenceDir, LlamaConfig model, float ldAlpha, int batchSize, int threads,
      Precision compute, StartAdapter adapter, CompletionLogProbs.TargetLogit target) {

    /** A float32 pass without adapter. */
    public Pass(Path cacheDir, Path referenceDir, LlamaConfig model, float ldAlpha, int batchSize, int threads) {
      this(cacheDir, referenceDir, model, ldAlpha, batchSize, threads, Precision.FLOAT32);
    }

    /** A pass without adapter, of a run that trains the head. */
    public Pass(Path cacheDir, Path referenceDir, LlamaConfig model, float ldAlpha, int batchSize, int threads,
        Precision compute) {
      this(cacheDir, referenceDir, model, ldAlpha, batchSize, threads, compute, null,
          CompletionLogProbs.TargetLogit.FROM_LOGITS);
    }
  }

  /**
   * The starting adapter of a LoRA run's reference.
   *
   * @param dir its PEFT directory (its files go into the fingerprint)
   * @param spec its rank, alpha, rsLoRA and targets
   * @param values its tensors by adapter name
   */
  public record StartAdapter(Path dir, dev.tfdpo.graphs.LoraAdapters.Spec spec, java.util.Map<String, float[]> values) {}

  /**
   * The reference log-probs of {@code pairs}: from the cache when its fingerprint matches, else
   * computed (reference weights loaded, used and freed before this returns) and cached.
   *
   * @param collate the trainer's batch builder, from data-set positions
   */
  public static ReferenceLogps obtain(Pass pass, PairSource pairs, Function<int[], Batch> collate, PrintStream out)
      throws IOException {
    long started = System.nanoTime();
    List<int[]> batches = new EpochSampler(pairs.size(), pass.batchSize(), false, 0).epoch(0);
    byte[] fingerprint = fingerprint(pass, batches, collate);
    Path file = pass.cacheDir().resolve(HexFormat.of().formatHex(fingerprint) + EXTENSION);
    if (Files.isRegularFile(file)) {
      ReferenceLogps cached = read(file, fingerprint, pairs);
      out.printf("reusing reference log-probs from %s%n", file);
      return cached;
    }
    out.printf("reference log-probs: computing for %d pairs in %d batches of %d with %s%n",
        pairs.size(), batches.size(), pass.batchSize(), pass.referenceDir());
    long[] rows = new long[pairs.size()];
    for (int p = 0; p < rows.length; p++) {
      rows[p] = pairs.get(p).index();
      if (p > 0 && rows[p] <= rows[p - 1]) {
        throw new IllegalStateException("precompute_ref_log_probs: pair " + p + " has data row " + rows[p]
            + " after row " + rows[p - 1] + "; the cache needs the pairs in data-set order, one per row");
      }
    }
    float[] chosen = new float[rows.length];
    float[] rejected = new float[rows.length];
    try (ReferencePass graph = new ReferencePass(pass.model(), pass.ldAlpha(), pass.threads(), pass.compute(),
            pass.adapter() == null ? null : pass.adapter().spec(), pass.target());
        SafeTensorsReader weights = SafeTensorsReader.open(pass.referenceDir())) {
      graph.load(weights);
      if (pass.adapter() != null) {
        graph.loadAdapter(pass.adapter().values());
      }
      int done = 0;
      for (int[] positions : batches) {
        Batch batch = collate.apply(positions);
        float[] values = graph.run(batch);
        int p = batch.numPairs();
        for (int s = 0; s < p; s++) {
          int at = position(rows, batch.pairIndices()[s]);
          chosen[at] = values[s];
          rejected[at] = values[p + s];
        }
        done++;
        if (batches.size() >= 20 && done % (batches.size() / 10) == 0) {
          out.printf("reference log-probs: %d/%d batches%n", done, batches.size());
        }
      }
    }
    write(file, fingerprint, rows, chosen, rejected, pass);
    out.printf("reference log-probs: cached in %s (%.1f s); the reference weights are not loaded during training%n",
        file, (System.nanoTime() - started) / 1e9);
    return new ReferenceLogps(rows, chosen, rejected, file, false);
  }

  /** The cache file. */
  public Path file() {
    return file;
  }

  /** True when the values came from an existing cache file. */
  public boolean reused() {
    return reused;
  }

  /** Number of pairs. */
  public int size() {
    return rows.length;
  }

  /** The batch's reference log-probs {@code [2P]}, in its sequence order (chosen of every pair first). */
  public float[] forBatch(Batch batch) {
    int p = batch.numPairs();
    float[] out = new float[2 * p];
    for (int s = 0; s < p; s++) {
      int at = position(rows, batch.pairIndices()[s]);
      out[s] = chosen[at];
      out[p + s] = rejected[at];
    }
    return out;
  }

  /** Rows are in file order, so strictly increasing. */
  private static int position(long[] rows, long row) {
    int at = Arrays.binarySearch(rows, row);
    if (at < 0) {
      throw new IllegalArgumentException("data row " + row + " has no cached reference log-probs");
    }
    return at;
  }

  /** SHA-256 of the reference files, ld_alpha and every batch of the pass. */
  static byte[] fingerprint(Pass pass, List<int[]> batches, Function<int[], Batch> collate) throws IOException {
    MessageDigest sha = sha256();
    sha.update(("tfdpo reference log-probs v" + VERSION + "\n").getBytes(StandardCharsets.UTF_8));
    sha.update(ByteBuffer.allocate(4).putFloat(pass.ldAlpha()).array());
    if (pass.compute() != Precision.FLOAT32) {
      // Only non-float32 passes add to the fingerprint, so float32 caches written before bf16 stay valid.
      sha.update(("compute " + pass.compute() + "\n").getBytes(StandardCharsets.UTF_8));
    }
    if (pass.target() != CompletionLogProbs.TargetLogit.FROM_LOGITS) {
      // As the precision: only the other reading adds to the fingerprint, so earlier caches stay valid.
      sha.update(("target logit " + pass.target() + "\n").getBytes(StandardCharsets.UTF_8));
    }
    hashFile(sha, pass.referenceDir().resolve("config.json"));
    List<Path> files;
    try (SafeTensorsReader reader = SafeTensorsReader.open(pass.referenceDir())) {
      files = new ArrayList<>(reader.files());
    }
    files.sort(null);
    for (Path f : files) {
      sha.update(f.getFileName().toString().getBytes(StandardCharsets.UTF_8));
      hashFile(sha, f);
    }
    if (pass.adapter() != null) {
      // A LoRA run's reference is base + starting adapter: the adapter's files and scaling are part of it.
      sha.update("lora adapter\n".getBytes(StandardCharsets.UTF_8));
      sha.update(ByteBuffer.allocate(4).putFloat(pass.adapter().spec().scale()).array());
      hashFile(sha, pass.adapter().dir().resolve(dev.tfdpo.io.hf.PeftAdapter.CONFIG_FILE));
      hashFile(sha, pass.adapter().dir().resolve(dev.tfdpo.io.hf.PeftAdapter.WEIGHTS_FILE));
    }
    for (int[] positions : batches) {
      Batch b = collate.apply(positions);
      ByteBuffer head = ByteBuffer.allocate(12).putInt(b.rows()).putInt(b.length()).putInt(b.numPairs());
      sha.update(head.array());
      for (int[] a : List.of(b.inputIds(), b.positionIds(), b.segmentIds(), b.branchIds(), b.lossPositions(),
          b.lossTargets(), b.lossSequences())) {
        ByteBuffer buf = ByteBuffer.allocate(4 * a.length);
        buf.asIntBuffer().put(a);
        sha.update(buf.array());
      }
      ByteBuffer idx = ByteBuffer.allocate(8 * b.pairIndices().length);
      idx.asLongBuffer().put(b.pairIndices());
      sha.update(idx.array());
    }
    return sha.digest();
  }

  private static void hashFile(MessageDigest sha, Path file) throws IOException {
    byte[] buf = new byte[1 << 20];
    try (InputStream in = Files.newInputStream(file)) {
      for (int n; (n = in.read(buf)) > 0; ) {
        sha.update(buf, 0, n);
      }
    }
  }

  private static MessageDigest sha256() {
    try {
      return MessageDigest.getInstance("SHA-256");
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("the JDK has no SHA-256", e);
    }
  }

  /** Writes the binary file atomically, and a JSON note next to it saying what it holds. */
  static void write(Path file, byte[] fingerprint, long[] rows, float[] chosen, float[] rejected, Pass pass)
      throws IOException {
    int n = rows.length;
    ByteBuffer buf = ByteBuffer.allocate(HEADER_BYTES + n * 16).order(ByteOrder.LITTLE_ENDIAN);
    buf.put(MAGIC).putInt(VERSION).put(fingerprint).putInt(n);
    for (long r : rows) {
      buf.putLong(r);
    }
    for (float v : chosen) {
      buf.putFloat(v);
    }
    for (float v : rejected) {
      buf.putFloat(v);
    }
    Files.createDirectories(file.getParent());
    Path tmp = Files.createTempFile(file.getParent(), file.getFileName().toString(), ".tmp");
    try {
      Files.write(tmp, buf.array());
      try {
        Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
      } catch (AtomicMoveNotSupportedException e) {
        Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING);
      }
    } finally {
      Files.deleteIfExists(tmp);
    }
    JsonObject note = new JsonObject();
    note.addProperty("what", "tfdpo precomputed reference log-probs (binary file of the same name)");
    note.addProperty("reference", pass.referenceDir().toString());
    note.addProperty("pairs", n);
    note.addProperty("batch_size", pass.batchSize());
    note.addProperty("ld_alpha", pass.ldAlpha());
    note.addProperty("created", java.time.Instant.now().toString());
    String name = file.getFileName().toString();
    Files.writeString(file.resolveSibling(name.substring(0, name.length() - EXTENSION.length()) + ".json"),
        new GsonBuilder().setPrettyPrinting().create().toJson(note) + "\n");
  }

  /** Reads and checks a cache file against the fingerprint and the data's rows. */
  static ReferenceLogps read(Path file, byte[] fingerprint, PairSource pairs) throws IOException {
    byte[] bytes = Files.readAllBytes(file);
    String damaged = file + ": not a complete reference log-prob cache file; delete it and the pass will"
        + " recompute it";
    if (bytes.length < HEADER_BYTES) {
      throw new IOException(damaged);
    }
    ByteBuffer buf = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
    byte[] magic = new byte[MAGIC.length];
    buf.get(magic);
    int version = buf.getInt();
    byte[] stored = new byte[32];
    buf.get(stored);
    int n = buf.getInt();
    if (!Arrays.equals(magic, MAGIC) || version != VERSION || n < 0 || bytes.length != HEADER_BYTES + 16L * n) {
      throw new IOException(damaged);
    }
    if (!Arrays.equals(stored, fingerprint)) {
      throw new IOException(file + ": its fingerprint does not match its name; delete it and the pass will"
          + " recompute it");
    }
    long[] rows = new long[n];
    float[] chosen = new float[n];
    float[] rejected = new float[n];
    for (int i = 0; i < n; i++) {
      rows[i] = buf.getLong();
    }
    for (int i = 0; i < n; i++) {
      chosen[i] = buf.getFloat();
    }
    for (int i = 0; i < n; i++) {
      rejected[i] = buf.getFloat();
    }
    if (n != pairs.size()) {
      throw new IOException(file + ": holds " + n + " pairs, the data has " + pairs.size()
          + "; delete it and the pass will recompute it");
    }
    for (int p = 0; p < n; p++) {
      if (rows[p] != pairs.get(p).index()) {
        throw new IOException(file + ": pair " + p + " is data row " + rows[p] + " there but row "
            + pairs.get(p).index() + " here; delete it and the pass will recompute it");
      }
    }
    return new ReferenceLogps(rows, chosen, rejected, file, true);
  }
}
