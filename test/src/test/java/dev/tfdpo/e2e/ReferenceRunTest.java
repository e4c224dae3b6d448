package dev.tfdpo.e2e;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.tfdpo.data.TokenIdsJsonl;
import dev.tfdpo.data.TokenizedPair;
import dev.tfdpo.io.hf.HfModelWriter;
import dev.tfdpo.io.hf.LlamaConfig;
import dev.tfdpo.io.safetensors.DType;
import dev.tfdpo.io.safetensors.SafeTensorsReader;
import dev.tfdpo.trainer.DpoTrainer;
import dev.tfdpo.trainer.NonFiniteStepException;
import dev.tfdpo.trainer.config.TrainConfig;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Consumer;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The reference options through whole training runs of the reproduction config ({@code
 * configs/reproduce/trl-dpo-tiny.json}: 64 pairs, 4 per micro-batch, 2 micro-batches per step,
 * sequential): precomputed log-probs against the live reference and the cache's reuse, another
 * checkpoint as the reference, the periodic reference update, and a non-finite step.
 */
class ReferenceRunTest {

  static final Path ROOT = Path.of(System.getProperty("tfdpo.root", "..")).toAbsolutePath().normalize();
  static final Path CONFIG = ROOT.resolve("configs/reproduce/trl-dpo-tiny.json");
  static final Path TINY = ROOT.resolve("test/fixtures/tiny-llama-a");
  static final Path TOKENS = ROOT.resolve("test/fixtures/golden/a-sigmoid/tokens.jsonl");

  /** The bound between the precomputed and the live curve, on every metric at every step. */
  static final double CURVE_TOLERANCE = 1e-6;

  /** Wall-clock metrics, the only ones allowed to differ between two runs. */
  static final Set<String> TIMING = Set.of("tokens_per_s", "run_id"); // and the run fingerprint: not compared

  @TempDir static Path tmp;

  record Run(String log, List<JsonObject> lines, Path dir) {
    double metric(int step, String key) {
      return lines.get(step - 1).get(key).getAsDouble();
    }
  }

  static Run train(String name, String... overrides) throws Exception {
    Path out = tmp.resolve(name);
    List<String> args = new ArrayList<>(List.of("--output_dir", out.toString(), "--report_to", "none"));
    args.addAll(List.of(overrides));
    ByteArrayOutputStream log = new ByteArrayOutputStream();
    DpoTrainer.run(TrainConfig.load(CONFIG, args), new PrintStream(log, true, StandardCharsets.UTF_8), false);
    return new Run(log.toString(StandardCharsets.UTF_8), lines(out), out);
  }

  static List<JsonObject> lines(Path out) throws IOException {
    return Files.readAllLines(out.resolve(DpoTrainer.METRICS_FILE)).stream().filter(l -> !l.isBlank())
        .map(l -> JsonParser.parseString(l).getAsJsonObject()).toList();
  }

  /** A copy of tiny-llama-a (config and tokenizer included) with {@code edit} applied to its weights. */
  static Path modelCopy(String name, Consumer<Map<String, float[]>> edit) throws IOException {
    Map<String, float[]> weights = new LinkedHashMap<>();
    try (SafeTensorsReader r = SafeTensorsReader.open(TINY)) {
      for (String n : r.names()) {
        weights.put(n, r.readFloats(n));
      }
    }
    edit.accept(weights);
    Path dir = tmp.resolve(name);
    HfModelWriter.write(dir, TINY, LlamaConfig.read(TINY), weights, DType.F32, HfModelWriter.DEFAULT_MAX_SHARD_BYTES);
    return dir;
  }

  static double graphMegabytes(String log) {
    Matcher m = Pattern.compile("training graph: ([0-9.]+) MB of variables").matcher(log);
    assertTrue(m.find(), log);
    return Double.parseDouble(m.group(1));
  }

  @Test
  void precomputedReferenceGivesTheLiveCurveAndIsReused() throws Exception {
    String cache = tmp.resolve("ref-cache").toString();
    Run live = train("live");
    Run fed = train("fed", "--precompute_ref_log_probs", "true", "--ref_cache_dir", cache);
    assertTrue(fed.log().contains("reference log-probs: computing for 64 pairs in 16 batches of 4"), fed.log());
    assertFalse(fed.log().contains("reusing"), fed.log());

    assertEquals(16, live.lines().size());
    assertEquals(16, fed.lines().size());
    double worst = 0;
    for (int i = 0; i < 16; i++) {
      JsonObject a = live.lines().get(i);
      JsonObject b = fed.lines().get(i);
      assertEquals(a.keySet(), b.keySet());
      for (String key : a.keySet()) {
        if (TIMING.contains(key)) {
          continue;
        }
        double x = a.get(key).getAsDouble();
        double y = b.get(key).getAsDouble();
        worst = Math.max(worst, Math.abs(x - y));
        assertEquals(x, y, CURVE_TOLERANCE, key + " at step " + (i + 1));
      }
    }
    System.out.printf("precomputed vs live reference, 16 steps: max |diff| over every metric %.3e%n", worst);
    try (SafeTensorsReader a = SafeTensorsReader.open(live.dir()); SafeTensorsReader b = SafeTensorsReader.open(fed.dir())) {
      for (String name : a.names()) {
        assertArrayEquals(a.readFloats(name), b.readFloats(name), 0f, "final " + name);
      }
    }
    // Without the reference the training graph holds policy, accumulators, Adam m and v: 4/5 of the live graph.
    double liveMb = graphMegabytes(live.log());
    double fedMb = graphMegabytes(fed.log());
    System.out.printf("training graph variables: live %.1f MB, precomputed %.1f MB%n", liveMb, fedMb);
    assertTrue(live.log().contains("Adam m and v, reference)"), live.log());
    assertTrue(fed.log().contains("Adam m and v)"), fed.log());
    assertEquals(0.8, fedMb / liveMb, 0.01);

    // Same inputs: the second run reads the cache and does not run the pass.
    Run again = train("fed-again", "--precompute_ref_log_probs", "true", "--ref_cache_dir", cache, "--max_steps", "2");
    Matcher reuse = Pattern.compile("reusing reference log-probs from (\\S+)").matcher(again.log());
    assertTrue(reuse.find(), again.log());
    assertTrue(Files.isRegularFile(Path.of(reuse.group(1))));
    assertTrue(reuse.group(1).startsWith(cache), reuse.group(1));
    assertFalse(again.log().contains("computing"), again.log());
    for (int step = 1; step <= 2; step++) {
      for (String key : List.of("loss", "grad_norm", "rewards/chosen", "rewards/margins", "logps/rejected")) {
        assertEquals(fed.metric(step, key), again.metric(step, key), 0.0, key + " at step " + step);
      }
    }
  }

  @Test
  void anotherCheckpointAsTheReference() throws Exception {
    Path perturbed = modelCopy("perturbed", w -> {
      for (float[] t : w.values()) {
        for (int i = 0; i < t.length; i++) {
          t[i] *= 1f + 0.02f * (float) Math.sin(i);
        }
      }
    });
    Run a = train("ref-perturbed", "--max_steps", "1", "--ref_model_name_or_path", perturbed.toString());
    assertTrue(a.log().contains("reference: " + perturbed + ", frozen"), a.log());
    double chosen = a.metric(1, "rewards/chosen");
    double margin = a.metric(1, "rewards/margins");
    assertNotEquals(0.0, chosen);
    assertNotEquals(0.0, margin);
    // The swap: policy = perturbed, reference = tiny-llama-a gives exactly the opposite rewards at step 1.
    Run b = train("ref-swapped", "--max_steps", "1", "--model_name_or_path", perturbed.toString(),
        "--ref_model_name_or_path", TINY.toString());
    assertEquals(-chosen, b.metric(1, "rewards/chosen"), 0.0);
    assertEquals(-a.metric(1, "rewards/rejected"), b.metric(1, "rewards/rejected"), 0.0);
    assertEquals(-margin, b.metric(1, "rewards/margins"), 1e-7);
    assertEquals(a.metric(1, "logps/chosen") - chosen / 0.1, b.metric(1, "logps/chosen"), 1e-3);
    // And through the precompute pass: the same numbers.
    Run c = train("ref-perturbed-fed", "--max_steps", "1", "--ref_model_name_or_path", perturbed.toString(),
        "--precompute_ref_log_probs", "true", "--ref_cache_dir", tmp.resolve("ref-cache-2").toString());
    assertTrue(c.log().contains("with " + perturbed), c.log());
    for (String key : List.of("loss", "rewards/chosen", "rewards/rejected", "rewards/margins")) {
      assertEquals(a.metric(1, key), c.metric(1, key), 0.0, key);
    }
    System.out.printf("reference from another checkpoint, step 1: rewards/chosen %.6e, margins %.6e%n", chosen, margin);
  }

  @Test
  void referenceUpdatesAfterTheStepsThatAreMultiplesOfN() throws Exception {
    // Warmup 0: step 1 changes the weights. After step 2 the reference becomes the policy, so step 3's
    // rewards (logged from its forward pass, before its update) are exactly 0.
    Run paddle = train("update-2", "--max_steps", "3", "--warmup_steps", "0", "--ref_model_update_steps", "2");
    assertEquals(0.0, paddle.metric(1, "rewards/margins"));
    assertNotEquals(0.0, paddle.metric(2, "rewards/margins"));
    assertEquals(0.0, paddle.metric(3, "rewards/chosen"));
    assertEquals(0.0, paddle.metric(3, "rewards/margins"));
    // TR-DPO with alpha 1 is the same rule.
    Run trl = train("sync-2", "--max_steps", "3", "--warmup_steps", "0", "--sync_ref_model", "true",
        "--ref_model_sync_steps", "2", "--ref_model_mixup_alpha", "1.0");
    for (int step = 1; step <= 3; step++) {
      for (String key : List.of("loss", "grad_norm", "rewards/chosen", "rewards/rejected")) {
        assertEquals(paddle.metric(step, key), trl.metric(step, key), 0.0, key + " at step " + step);
      }
    }
    // alpha 0.5: the reference moves half way, so step 3's rewards are no longer 0; nothing differs
    // before the first sync.
    Run half = train("sync-half", "--max_steps", "3", "--warmup_steps", "0", "--sync_ref_model", "true",
        "--ref_model_sync_steps", "2", "--ref_model_mixup_alpha", "0.5");
    assertNotEquals(0.0, half.metric(3, "rewards/chosen"));
    assertEquals(paddle.metric(2, "loss"), half.metric(2, "loss"), 0.0);
    assertEquals(paddle.metric(2, "rewards/margins"), half.metric(2, "rewards/margins"), 0.0);
  }

  @Test
  void aNonFiniteStepStopsTheRunAndKeepsTheLastGoodOutputs() throws Exception {
    // A token that first appears in step 3's pairs (16..23): its embedding row is the largest float in a
    // model copy (a NaN row is refused when the weights load), which overflows once that token is used.
    List<TokenizedPair> pairs = TokenIdsJsonl.read(TOKENS);
    Set<Integer> early = new HashSet<>();
    for (TokenizedPair p : pairs.subList(0, 16)) {
      ids(p).forEach(early::add);
    }
    int token = -1;
    int firstPair = -1;
    for (int i = 16; i < 24 && token < 0; i++) {
      for (int id : ids(pairs.get(i))) {
        if (!early.contains(id)) {
          token = id;
          firstPair = i;
          break;
        }
      }
    }
    assertTrue(token > 2, "a token new in step 3");
    int vocabRow = token;
    int hidden = LlamaConfig.read(TINY).hiddenSize();
    Path broken = modelCopy("nan-row", w -> Arrays.fill(w.get("model.embed_tokens.weight"),
        vocabRow * hidden, (vocabRow + 1) * hidden, Float.MAX_VALUE));

    Path out = tmp.resolve("nan-run");

    NonFiniteStepException e = assertThrows(NonFiniteStepException.class,
        () -> train("nan-run", "--model_name_or_path", broken.toString()));
    assertEquals(3, e.step());
    // The overflow shows in step 3's backward pass: the loss is finite, the embedding's gradient is not.
    assertEquals("step 3: non-finite gradient (first: model.embed_tokens.weight; global norm NaN); the update was not"
        + " applied and nothing was written over earlier outputs; the last good weights are those after step 2,"
        + " saved in " + out.resolve("checkpoint-2") + " (resume or export from there)", e.getMessage());
    // The state after step 2 (the graph still held it: step 3's update never ran) as a checkpoint.
    assertTrue(dev.tfdpo.io.checkpoint.CheckpointVerifier.verify(out.resolve("checkpoint-2")).ok());
    assertTrue(Files.readString(out.resolve("checkpoint-2").resolve("trainer_state.json"))
        .contains("\"global_step\": 2"));
    List<JsonObject> logged = lines(out);
    assertEquals(2, logged.size(), "steps 1 and 2 are logged");
    for (JsonObject line : logged) {
      assertTrue(Double.isFinite(line.get("loss").getAsDouble()));
    }
    assertFalse(Files.exists(out.resolve("model.safetensors")), "no final model: the run did not finish");
    assertFalse(Files.exists(out.resolve(DpoTrainer.LOSS_CHART)));

    // The kept weights are bitwise those of a healthy run after step 2. Steps 1 and 2 are warm-up, whose
    // learning rates do not depend on max_steps, and the broken row is never read before step 3 (its
    // gradient is 0, Adam leaves it alone, there is no weight decay), so every other weight matches to
    // the bit and the broken row keeps its value.
    Run healthy = train("healthy-2", "--max_steps", "2");
    try (SafeTensorsReader kept = SafeTensorsReader.open(out.resolve("checkpoint-2"));
        SafeTensorsReader normal = SafeTensorsReader.open(healthy.dir())) {
      assertEquals(normal.names(), kept.names());
      for (String name : normal.names()) {
        float[] k = kept.readFloats(name);
        float[] n = normal.readFloats(name);
        if (name.equals("model.embed_tokens.weight")) {
          for (int i = vocabRow * hidden; i < (vocabRow + 1) * hidden; i++) {
            assertEquals(Float.MAX_VALUE, k[i], 0f, "the broken row is unchanged");
            k[i] = n[i];
          }
        }
        assertArrayEquals(n, k, 0f, name);
      }
    }
    System.out.println("NaN run: " + e.getMessage());
  }

  private static List<Integer> ids(TokenizedPair p) {
    List<Integer> all = new ArrayList<>();
    for (int[] a : List.of(p.promptIds(), p.chosenIds(), p.rejectedIds())) {
      for (int id : a) {
        all.add(id);
      }
    }
    return all;
  }
}
