package dev.tfdpo.export;

import dev.tfdpo.cli.Cli;
import dev.tfdpo.io.DurableFiles;
import dev.tfdpo.io.OutputDirLock;
import dev.tfdpo.io.checkpoint.Checkpoints;
import dev.tfdpo.io.hf.HfExport;
import dev.tfdpo.io.hf.LlamaConfig;
import dev.tfdpo.io.hf.RewardModelExport;
import dev.tfdpo.io.safetensors.DType;
import dev.tfdpo.io.safetensors.SafeTensorsReader;
import dev.tfdpo.trainer.config.ConfigException;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.tensorflow.exceptions.TensorFlowException;

/**
 * {@code scripts/export.sh SRC OUT --format hf|savedmodel [--dtype float32|bfloat16] [--max-shard-size
 * SIZE] [--overwrite]}: exports a checkpoint or a finished run as a Hugging Face model directory or a
 * TensorFlow SavedModel.
 *
 * <p>The export is written into a temporary directory next to {@code OUT} and renamed into place at
 * the end, so a failed export leaves no half-written {@code OUT}. An existing non-empty {@code OUT} is
 * refused unless {@code --overwrite} is given; then it is replaced as a whole. Exit status: 0 done, 1
 * the export failed (unreadable source, I/O), 2 bad arguments.
 */
public final class ExportMain {

  static final String USAGE = String.join("\n",
      "usage: export.sh SRC OUT --format hf|savedmodel [--dtype float32|bfloat16] [--max-shard-size SIZE] [--merge_lora]"
          + " [--overwrite]",
      "  SRC               a checkpoint-N directory, a run's output_dir (its final model, or else its newest",
      "                    checkpoint that verifies) or a Hugging Face model directory (hf only)",
      "  OUT               the directory to create",
      "  --format hf       config.json, model.safetensors (sharded above the limit), tokenizer and generation",
      "                    files: loads with transformers' from_pretrained",
      "  --format savedmodel",
      "                    TensorFlow SavedModel (tag serve) with signatures log_probs, score and reward;",
      "                    for a reward model (rlhf_type rm output) one signature, score",
      "  --dtype           hf only: float32 (default) or bfloat16 (rounded to nearest even)",
      "  --max-shard-size  hf only: largest weight file, e.g. 5GB (default), 200MB, 2GiB",
      "  --overwrite       replace OUT if it exists and is not empty",
      "  --merge_lora      hf: SRC is a LoRA run (PEFT adapter files): write its base model with the adapter",
      "                    merged (W + s B A); a LoRA SavedModel is always merged");

  /** The export formats. */
  enum Format {
    HF,
    SAVEDMODEL
  }

  private ExportMain() {}

  /** Entry point; exits with the status of {@link #run} (errors reported by {@link Cli}). */
  public static void main(String[] args) {
    Cli.main("export", args, a -> run(a, System.out, System.err));
  }

  /** Runs the tool; returns the exit status (0 success, 1 export failed, 2 bad arguments). */
  static int run(String[] args, PrintStream out, PrintStream err) {
    Args a;
    try {
      a = Args.parse(args);
    } catch (IllegalArgumentException bad) {
      err.println("error: " + bad.getMessage());
      err.println(USAGE);
      return 2;
    }
    if (a == null) {
      out.println(USAGE);
      return 0;
    }
    Path outDir = a.target().toAbsolutePath().normalize();
    try {
      checkTarget(a.src().toAbsolutePath().normalize(), outDir, a.overwrite());
      try (OutputDirLock lock = OutputDirLock.acquire(outDir, "export", out::println)) {
        return export(a.src(), outDir, a.format(), a.dtype(), a.shardSize(), a.mergeLora(), out);
      }
    } catch (IOException | ConfigException | IllegalArgumentException | TensorFlowException failed) {
      // As for the other tools (docs/troubleshooting.md): 2 for a source or OUT refused as given (a
      // missing, damaged or mixed source, a locked or non-empty OUT), 1 for a failure while writing.
      int status = Cli.status(failed);
      err.println("error: " + Cli.message(failed));
      return status;
    }
  }

  /** The command line, checked; dtype and shardSize null when not given. */
  private record Args(Path src, Path target, Format format, DType dtype, String shardSize, boolean overwrite,
      boolean mergeLora) {

    /** The parsed arguments; null for {@code --help}. */
    static Args parse(String[] args) {
      Path src = null;
      Path target = null;
      Format format = null;
      DType dtype = null;
      String shardSize = null;
      boolean overwrite = false;
      boolean mergeLora = false;
      for (int i = 0; i < args.length; i++) {
        String arg = args[i];
        switch (arg) {
          case "-h", "--help" -> {
            return null;
          }
          case "--format" -> format = parseFormat(value(args, i++, arg));
          case "--dtype" -> dtype = parseDtype(value(args, i++, arg));
          case "--max-shard-size" -> {
            shardSize = value(args, i++, arg);
            ShardSize.parse(shardSize);
          }
          case "--overwrite" -> overwrite = true;
          case "--merge_lora", "--merge-lora" -> mergeLora = true;
          default -> {
            if (arg.startsWith("-")) {
              throw new IllegalArgumentException("unknown option " + arg);
            } else if (src == null) {
              src = Path.of(arg);
            } else if (target == null) {
              target = Path.of(arg);
            } else {
              throw new IllegalArgumentException("unexpected argument " + arg + " (SRC and OUT are already given)");
            }
          }
        }
      }
      return new Args(src, target, format, dtype, shardSize, overwrite, mergeLora).checked();
    }

    private Args checked() {
      if (src == null || target == null) {
        throw new IllegalArgumentException("missing " + (src == null ? "SRC and OUT" : "OUT"));
      }
      if (format == null) {
        throw new IllegalArgumentException("missing --format hf|savedmodel");
      }
      if (format == Format.SAVEDMODEL && (dtype != null || shardSize != null)) {
        throw new IllegalArgumentException(
            (dtype != null ? "--dtype" : "--max-shard-size") + " applies to --format hf only: a SavedModel"
                + " keeps float32 variables in TensorFlow's own checkpoint format");
      }
      return this;
    }
  }

  private static int export(Path src, Path outDir, Format format, DType dtype, String shardSize, boolean mergeLora,
      PrintStream out) throws IOException {
    if (Files.isRegularFile(src.resolve("config.json")) && RewardModelExport.isSequenceClassifier(src)) {
      return exportRewardModel(src, outDir, format, dtype, shardSize, out);
    }
    ModelStateDir state = ModelStateDir.resolve(src);
    boolean lora = state.adapter().isPresent();
    if (format == Format.HF && lora != mergeLora) {
      throw new IllegalArgumentException(lora
          ? state.directory() + " holds a LoRA adapter (already in PEFT's format there); pass --merge_lora to write"
              + " the base model with the adapter merged in"
          : "--merge_lora: " + state.directory() + " holds full model weights, not a LoRA adapter");
    }
    checkTarget(state.directory(), outDir, true); // the directory actually read, e.g. a run's newest checkpoint
    out.println("exporting " + state.origin());
    staged(outDir, staging -> {
      if (format == Format.HF) {
        HfExport.Options options = hfOptions(dtype, shardSize);
        List<Path> written = state.exportHf(staging, options);
        // The index that goes with shards is not a weight file.
        long weightFiles = written.stream().filter(p -> p.getFileName().toString().endsWith(".safetensors")).count();
        out.printf("Hugging Face model (%s, %d weight file%s%s) -> %s%n",
            options.dtype() == DType.F32 ? "float32" : "bfloat16", weightFiles, weightFiles == 1 ? "" : "s",
            weightFiles < written.size() ? " and " + SafeTensorsReader.INDEX_FILE : "", outDir);
      } else {
        SavedModelExport.Exported done = SavedModelExport.export(state, staging);
        out.printf("SavedModel (tag %s, beta %s, reference %s) -> %s%n",
            SavedModelExport.TAG, done.beta(), done.reference(), outDir);
        out.print(SavedModelExport.describe(staging));
      }
    });
    return 0;
  }

  /** What an export writes into its staging directory. */
  private interface StagedWrite {
    void into(Path staging) throws IOException;
  }

  /**
   * Runs {@code write} into a fresh staging directory beside {@code outDir}, then puts it in {@code outDir}'s
   * place; on any failure the staging directory is removed and {@code outDir} is left as it was.
   */
  private static void staged(Path outDir, StagedWrite write) throws IOException {
    Path parent = DurableFiles.parentOf(outDir);
    Files.createDirectories(parent);
    Path staging = DurableFiles.createTempDirectory(parent, "." + outDir.getFileName() + ".tmp-");
    try {
      write.into(staging);
      replace(staging, outDir);
    } catch (IOException | RuntimeException failed) {
      DurableFiles.deleteRecursively(staging);
      throw failed;
    }
  }

  /** The Hugging Face writer's options: {@code dtype} (default float32) and shard size (default {@link ShardSize#DEFAULT}). */
  private static HfExport.Options hfOptions(DType dtype, String shardSize) {
    return new HfExport.Options(dtype == null ? DType.F32 : dtype,
        ShardSize.parse(shardSize == null ? ShardSize.DEFAULT : shardSize));
  }

  /**
   * A reward model's directory (what {@code rlhf_type rm} writes: a Hugging Face sequence classifier):
   * as a SavedModel with the {@code score} signature ({@link RewardSavedModelExport}), or rewritten as a
   * Hugging Face directory (another dtype or shard size).
   */
  private static int exportRewardModel(Path src, Path outDir, Format format, DType dtype, String shardSize,
      PrintStream out) throws IOException {
    out.println("exporting the reward model in " + src);
    staged(outDir, staging -> {
      if (format == Format.HF) {
        HfExport.Options options = hfOptions(dtype, shardSize);
        LlamaConfig config = LlamaConfig.read(src);
        Map<String, float[]> weights = new java.util.LinkedHashMap<>();
        try (SafeTensorsReader reader = SafeTensorsReader.open(src)) {
          for (String name : reader.names()) {
            weights.put(name, reader.readFloats(name));
          }
        }
        RewardModelExport.write(staging, src, config, weights, RewardSavedModelExport.padTokenId(src), options);
        out.printf("Hugging Face reward model (%s) -> %s%n",
            options.dtype() == DType.F32 ? "float32" : "bfloat16", outDir);
      } else {
        RewardSavedModelExport.export(src, staging);
        out.printf("SavedModel of the reward model (tag %s) -> %s%n", SavedModelExport.TAG, outDir);
        out.print(SavedModelExport.describe(staging));
      }
    });
    return 0;
  }

  /**
   * Refuses an {@code OUT} that would destroy the source or existing files: the source itself, a
   * directory holding it, one inside it, or a training checkpoint (--overwrite would replace it whole).
   */
  private static void checkTarget(Path src, Path target, boolean overwrite) throws IOException {
    if (src.startsWith(target) || target.startsWith(src)) {
      throw new ConfigException("OUT " + target + (src.equals(target) ? " is" : src.startsWith(target) ? " contains"
          : " is inside") + " SRC " + src + ": export into a new directory");
    }
    if (Checkpoints.stepOf(target).isPresent() && Files.isRegularFile(target.resolve(Checkpoints.MANIFEST))) {
      throw new ConfigException("OUT " + target + " is a training checkpoint; export into a new directory");
    }
    if (Files.exists(target, LinkOption.NOFOLLOW_LINKS)) {
      if (!Files.isDirectory(target, LinkOption.NOFOLLOW_LINKS)) {
        throw new ConfigException("OUT " + target + " exists and is not a directory");
      }
      boolean empty;
      try (Stream<Path> entries = Files.list(target)) {
        empty = entries.allMatch(p -> p.getFileName().toString().equals(OutputDirLock.FILE));
      }
      if (!empty && !overwrite) {
        throw new ConfigException("OUT " + target + " exists and is not empty; pass --overwrite to replace it"
            + " or choose another directory");
      }
    }
  }

  /** Moves the finished export to {@code target}, removing what was there. */
  private static void replace(Path staging, Path target) throws IOException {
    if (Files.exists(target, LinkOption.NOFOLLOW_LINKS)) {
      Path old = DurableFiles.unusedName(DurableFiles.parentOf(target), "." + target.getFileName() + ".old-");
      Files.move(target, old);
      DurableFiles.moveAtomically(staging, target);
      DurableFiles.deleteRecursively(old);
    } else {
      DurableFiles.moveAtomically(staging, target);
    }
    DurableFiles.fsyncDirectory(DurableFiles.parentOf(target));
  }

  private static String value(String[] args, int i, String option) {
    if (i + 1 >= args.length || args[i + 1].startsWith("--")) {
      throw new IllegalArgumentException(option + " needs a value");
    }
    return args[i + 1];
  }

  private static Format parseFormat(String v) {
    return switch (v) {
      case "hf" -> Format.HF;
      case "savedmodel" -> Format.SAVEDMODEL;
      default -> throw new IllegalArgumentException("--format must be hf or savedmodel, got '" + v + "'");
    };
  }

  private static DType parseDtype(String v) {
    return switch (v) {
      case "float32" -> DType.F32;
      case "bfloat16" -> DType.BF16;
      default -> throw new IllegalArgumentException("--dtype must be float32 or bfloat16, got '" + v + "'");
    };
  }
}
