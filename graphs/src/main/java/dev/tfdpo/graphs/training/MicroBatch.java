package dev.tfdpo.graphs.training;

/**
 * What the training loop reads of any micro-batch, whatever the graph's layout ({@link Batch} for the
 * log-prob objectives, {@link RewardBatch} for a reward model): its token count and its data rows.
 */
public interface MicroBatch {

  /** Tokens counted for throughput and {@code num_tokens}, as TRL counts them for this trainer. */
  long realTokens();

  /** Data-set positions of the examples, in order (named in error messages). */
  long[] pairIndices();
}
