package dev.tfdpo.tokenizer;

import ai.djl.sentencepiece.SpProcessor;
import ai.djl.sentencepiece.SpTokenizer;
import com.google.protobuf.InvalidProtocolBufferException;
import dev.tfdpo.tokenizer.spm.SentencepieceModel.ModelProto;
import dev.tfdpo.tokenizer.spm.SentencepieceModel.ModelProto.SentencePiece;
import dev.tfdpo.tokenizer.spm.SentencepieceModel.TrainerSpec;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A SentencePiece {@code .model} file, encoded by DJL's binding of the native library.
 *
 * <p>The binding exposes no vocabulary size or special ids, so they are read from the model's protobuf
 * ({@code trainer_spec}); {@code tokenizer_config.json} may rename the special tokens. The native
 * {@code getToken} aborts the JVM on an out-of-range id, so token lookups use the protobuf's pieces.
 */
public final class SentencePieceTokenizer implements Tokenizer {

  private final SpTokenizer sp;
  private final SpProcessor processor;
  private final List<String> pieces;
  private final Map<String, Integer> ids;
  private final SpecialTokens special;
  private final SpecialSplitter splitter;
  private final boolean addBos;
  private final boolean addEos;
  private final boolean byteFallback;
  private final String modelType;

  private SentencePieceTokenizer(byte[] model, ModelProto proto, TokenizerConfig config, Path file) {
    List<String> p = new ArrayList<>(proto.getPiecesCount());
    Map<String, Integer> index = new HashMap<>();
    Map<String, Integer> specials = new LinkedHashMap<>();
    for (int i = 0; i < proto.getPiecesCount(); i++) {
      SentencePiece piece = proto.getPieces(i);
      p.add(piece.getPiece());
      index.putIfAbsent(piece.getPiece(), i);
      // USER_DEFINED pieces are matched by the native encoder already; CONTROL and UNKNOWN are not,
      // while Hugging Face tokenizers treat all three as special tokens written in the text.
      SentencePiece.Type t = piece.getType();
      if (t == SentencePiece.Type.CONTROL || t == SentencePiece.Type.UNKNOWN) {
        specials.put(piece.getPiece(), i);
      }
    }
    this.pieces = List.copyOf(p);
    this.ids = Map.copyOf(index);
    TrainerSpec spec = proto.getTrainerSpec();
    this.special =
        new SpecialTokens(
            name(config.bos(), spec.getBosId(), file, "bos_token"),
            name(config.eos(), spec.getEosId(), file, "eos_token"),
            name(config.unk(), spec.getUnkId(), file, "unk_token"),
            name(config.pad(), spec.getPadId(), file, "pad_token"),
            idOf(config.bos(), spec.getBosId(), file, "bos_token"),
            idOf(config.eos(), spec.getEosId(), file, "eos_token"),
            idOf(config.unk(), spec.getUnkId(), file, "unk_token"),
            idOf(config.pad(), spec.getPadId(), file, "pad_token"));
    for (String s : config.additionalSpecial()) {
      Integer id = index.get(s);
      if (id != null) {
        specials.put(s, id);
      }
    }
    for (int id : new int[] {special.bosId(), special.eosId(), special.unkId(), special.padId()}) {
      if (id >= 0) {
        specials.put(pieces.get(id), id);
      }
    }
    this.splitter = new SpecialSplitter(specials);
    // transformers' LlamaTokenizer defaults: BOS on, EOS off.
    this.addBos = (config.addBos() == null || config.addBos()) && special.bosId() >= 0;
    this.addEos = config.addEos() != null && config.addEos() && special.eosId() >= 0;
    this.byteFallback = spec.getByteFallback();
    this.modelType = spec.getModelType().name().toLowerCase();
    this.sp = new SpTokenizer(model);
    this.processor = sp.getProcessor();
  }

  /** Loads {@code modelFile}, with special-token settings from {@code config}. */
  public static SentencePieceTokenizer load(Path modelFile, TokenizerConfig config) throws IOException {
    byte[] bytes = Files.readAllBytes(modelFile);
    ModelProto proto;
    try {
      proto = ModelProto.parseFrom(bytes);
    } catch (InvalidProtocolBufferException e) {
      throw new IllegalArgumentException(
          modelFile + " is not a SentencePiece model (protobuf parse failed: " + e.getMessage() + ")", e);
    }
    if (proto.getPiecesCount() == 0) {
      throw new IllegalArgumentException(modelFile + " is not a SentencePiece model (no pieces)");
    }
    return new SentencePieceTokenizer(bytes, proto, config, modelFile);
  }

  private String name(String configured, int specId, Path file, String key) {
    if (configured != null) {
      return configured;
    }
    return specId >= 0 && specId < pieces.size() ? pieces.get(specId) : null;
  }

  private int idOf(String configured, int specId, Path file, String key) {
    if (configured == null) {
      return specId >= 0 && specId < pieces.size() ? specId : -1;
    }
    Integer id = ids.get(configured);
    if (id == null) {
      throw new IllegalArgumentException(
          "tokenizer config names " + key + " '" + configured + "', which is not a piece of " + file
              + "; fix the config or point tokenizer_name_or_path at the matching model");
    }
    return id;
  }

  @Override
  public int[] encode(String text) {
    List<SpecialSplitter.Segment> segments = splitter.split(text);
    if (segments.size() == 1 && segments.get(0).id() < 0) {
      return processor.encode(text);
    }
    IntList out = new IntList();
    for (SpecialSplitter.Segment s : segments) {
      if (s.id() >= 0) {
        out.add(s.id());
      } else {
        out.addAll(processor.encode(s.text()));
      }
    }
    return out.toArray();
  }

  @Override
  public int[] encodeWithSpecialTokens(String text) {
    int[] body = encode(text);
    int n = body.length + (addBos ? 1 : 0) + (addEos ? 1 : 0);
    int[] out = new int[n];
    int at = 0;
    if (addBos) {
      out[at++] = special.bosId();
    }
    System.arraycopy(body, 0, out, at, body.length);
    if (addEos) {
      out[n - 1] = special.eosId();
    }
    return out;
  }

  @Override
  public String decode(int[] ids) {
    for (int id : ids) {
      Tokenizer.checkId(id, pieces.size());
    }
    return processor.decode(ids);
  }

  @Override
  public String token(int id) {
    Tokenizer.checkId(id, pieces.size());
    return pieces.get(id);
  }

  @Override
  public int id(String token) {
    return ids.getOrDefault(token, -1);
  }

  @Override
  public int vocabSize() {
    return pieces.size();
  }

  @Override
  public SpecialTokens specialTokens() {
    return special;
  }

  /** True when the model maps unknown characters to byte pieces instead of UNK. */
  public boolean byteFallback() {
    return byteFallback;
  }

  /** {@code bpe}, {@code unigram}, {@code word} or {@code char}. */
  public String modelType() {
    return modelType;
  }

  @Override
  public String backend() {
    return "sentencepiece";
  }

  @Override
  public void close() {
    sp.close();
  }
}
