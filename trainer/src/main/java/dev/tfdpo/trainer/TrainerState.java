package dev.tfdpo.trainer;

import com.google.gson.Gson;
import com.google.gson.GsonBuilder;
import com.google.gson.JsonParseException;
import com.google.gson.annotations.SerializedName;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Where a run stands after an optimizer step: everything besides the graph's variables that a resumed
 * run needs to continue exactly. Saved as {@code trainer_state.json} in each checkpoint.
 *
 * <p>The data position is (epoch, next micro-batch of that epoch); the order of an epoch is a pure
 * function of (shuffle, seed, epoch), so no random generator state needs saving. The learning rate and
 * AdamW's bias corrections are functions of the step.
 *
 * @param formatVersion {@link #FORMAT_VERSION}
 * @param globalStep optimizer steps done
 * @param epoch epoch of the next micro-batch (0-based)
 * @param nextMicroBatch index of the next micro-batch within that epoch
 * @param numTokens real tokens trained on so far
 * @param shuffle whether epochs are shuffled
 * @param seed the shuffle seed
 * @param totalSteps steps the run was planned for
 * @param interval metric sums since the last logged step
 */
public record TrainerState(
    @SerializedName("format_version") int formatVersion,
    @SerializedName("global_step") long globalStep,
    @SerializedName("epoch") int epoch,
    @SerializedName("next_micro_batch") int nextMicroBatch,
    @SerializedName("num_tokens") long numTokens,
    @SerializedName("shuffle") boolean shuffle,
    @SerializedName("seed") long seed,
    @SerializedName("total_steps") long totalSteps,
    @SerializedName("log_interval") LogInterval.Sums interval) {

  /** What stays the same in every state of one run. */
  record Run(boolean shuffle, long seed, long totalSteps) {

    /** The state after {@code globalStep}, with the next micro-batch at ({@code epoch}, {@code next}). */
    TrainerState at(long globalStep, int epoch, int next, long numTokens, LogInterval.Sums interval) {
      return new TrainerState(FORMAT_VERSION, globalStep, epoch, next, numTokens, shuffle, seed, totalSteps, interval);
    }
  }

  /** Version of this file's layout. */
  public static final int FORMAT_VERSION = 1;

  /** Its name inside a checkpoint. */
  public static final String FILE = "trainer_state.json";

  // Doubles are written with Double.toString, which reads back to the same bits.
  private static final Gson GSON =
      new GsonBuilder().setPrettyPrinting().serializeSpecialFloatingPointValues().create();

  void write(Path file) throws IOException {
    Files.writeString(file, GSON.toJson(this) + "\n", StandardCharsets.UTF_8);
  }

  static TrainerState read(Path file) throws IOException {
    TrainerState s;
    try {
      s = GSON.fromJson(Files.readString(file, StandardCharsets.UTF_8), TrainerState.class);
    } catch (JsonParseException e) {
      throw new IOException(file + ": not a valid trainer state: " + e.getMessage(), e);
    }
    if (s == null || s.formatVersion() != FORMAT_VERSION || s.interval() == null) {
      throw new IOException(file + ": unsupported trainer state (expected format_version "
          + FORMAT_VERSION + ")");
    }
    return s;
  }
}
