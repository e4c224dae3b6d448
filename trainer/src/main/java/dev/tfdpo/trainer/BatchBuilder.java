package dev.tfdpo.trainer;

import dev.tfdpo.data.TokenizedPair;
import dev.tfdpo.graphs.training.Batch;
import dev.tfdpo.io.hf.LlamaConfig;
import dev.tfdpo.trainer.config.TrainConfig;
import java.util.List;

/**
 * Turns the pairs of one micro-batch into a {@link Batch}: {@link Collator} (TRL's padded rows) or
 * {@link Packer} (PaddleNLP's packed {@code [prompt, chosen, rejected]} segments). Both give the same
 * sequences, in the same order, the same per-sequence log-probs and therefore the same loss.
 */
public interface BatchBuilder {

  /** Builds the micro-batch of {@code pairs} (already within the length limits). */
  Batch build(List<TokenizedPair> pairs);

  /**
   * The builder of a run.
   *
   * @param packing packed segments instead of padded rows
   * @param padId token id written on padding
   * @param maxSeqLen packed row length ({@code max_seq_len}); unused by the padded layout
   * @param greedy packed rows filled first-fit ({@code greedy_zero_padding}) instead of in order
   * @param buckets shape rounding (see {@link ShapeBuckets})
   */
  static BatchBuilder of(boolean packing, int padId, int maxSeqLen, boolean greedy, ShapeBuckets buckets) {
    return packing ? new Packer(padId, maxSeqLen, greedy, buckets) : new Collator(padId, buckets);
  }

  /**
   * The builder a run's config asks for: {@code packing}, {@code max_seq_len}, {@code greedy_zero_padding},
   * shape buckets when {@code use_xla} is on; padding with the model's EOS id, as TRL does.
   */
  static BatchBuilder forConfig(TrainConfig config, LlamaConfig model) {
    return of(config.data().packing(), model.eosTokenId(), config.data().maxSeqLen(),
        config.data().greedyZeroPadding(), config.training().useXla() ? ShapeBuckets.XLA : ShapeBuckets.NONE);
  }
}
