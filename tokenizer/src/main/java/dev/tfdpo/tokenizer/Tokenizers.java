package dev.tfdpo.tokenizer;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;

/**
 * Finds and loads the tokenizer of a model directory.
 *
 * <p>When a directory holds both {@code tokenizer.json} and {@code tokenizer.model}, the JSON wins: it is
 * what transformers' {@code AutoTokenizer} (and so TRL) loads, and the stock slow Llama tokenizer built
 * from a bare {@code .model} is known to differ (it drops the dummy prefix before a leading space).
 */
public final class Tokenizers {

  /** File name of a Hugging Face fast tokenizer. */
  public static final String HF_FILE = "tokenizer.json";
  /** File name of a SentencePiece model in a Hugging Face model directory. */
  public static final String SPM_FILE = "tokenizer.model";

  private Tokenizers() {}

  /**
   * The files a tokenizer is built from.
   *
   * @param tokenizerFile {@code tokenizer.json} or a SentencePiece {@code .model}
   * @param configDir the directory whose {@code tokenizer_config.json} etc. apply
   */
  public record Located(Path tokenizerFile, Path configDir) {

    /** True for {@code tokenizer.json}. */
    public boolean isHuggingFace() {
      return tokenizerFile.getFileName().toString().endsWith(".json");
    }

    /** The tokenizer file plus the configuration files that exist. */
    public List<Path> files() {
      List<Path> out = new ArrayList<>();
      out.add(tokenizerFile);
      for (String name : TokenizerConfig.FILES) {
        Path p = configDir.resolve(name);
        if (Files.isRegularFile(p)) {
          out.add(p);
        }
      }
      return out;
    }

    /**
     * SHA-256 over the names and bytes of {@link #files()}: identifies the tokenizer in preprocessed
     * files, so ids made by one tokenizer are never fed to a model with another.
     */
    public String fingerprint() {
      try {
        MessageDigest md = MessageDigest.getInstance("SHA-256");
        for (Path p : files()) {
          md.update(p.getFileName().toString().getBytes(StandardCharsets.UTF_8));
          md.update((byte) 0);
          try (InputStream in = Files.newInputStream(p)) {
            byte[] buf = new byte[1 << 16];
            int n;
            while ((n = in.read(buf)) > 0) {
              md.update(buf, 0, n);
            }
          }
          md.update((byte) 0);
        }
        return HexFormat.of().formatHex(md.digest());
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      } catch (NoSuchAlgorithmException e) {
        throw new IllegalStateException("the JVM lacks SHA-256", e);
      }
    }
  }

  /**
   * Locates the tokenizer: {@code override} when given (a {@code tokenizer.json}, a {@code .model} file
   * or a directory), else {@code modelDir}.
   */
  public static Located locate(Path modelDir, Path override) {
    Path where = override != null ? override : modelDir;
    String key = override != null ? "tokenizer_name_or_path" : "model_name_or_path";
    if (where == null) {
      throw new IllegalArgumentException(
          "no tokenizer: set model_name_or_path (a model directory) or tokenizer_name_or_path");
    }
    if (Files.isRegularFile(where)) {
      Path dir = where.toAbsolutePath().getParent();
      return new Located(where, dir);
    }
    if (!Files.isDirectory(where)) {
      throw new IllegalArgumentException(key + " " + where + " does not exist");
    }
    Path json = where.resolve(HF_FILE);
    if (Files.isRegularFile(json)) {
      return new Located(json, where);
    }
    Path spm = where.resolve(SPM_FILE);
    if (Files.isRegularFile(spm)) {
      return new Located(spm, where);
    }
    throw new IllegalArgumentException(
        key + " " + where + " holds neither " + HF_FILE + " nor " + SPM_FILE
            + "; point tokenizer_name_or_path at the tokenizer files");
  }

  /** Loads the tokenizer {@link #locate(Path, Path)} finds. */
  public static Tokenizer load(Path modelDir, Path override) throws IOException {
    return load(locate(modelDir, override));
  }

  /** Loads a located tokenizer with the configuration next to it. */
  public static Tokenizer load(Located located) throws IOException {
    TokenizerConfig config = TokenizerConfig.read(located.configDir());
    return located.isHuggingFace()
        ? HuggingFaceTokenizer.load(located.tokenizerFile(), config)
        : SentencePieceTokenizer.load(located.tokenizerFile(), config);
  }
}
