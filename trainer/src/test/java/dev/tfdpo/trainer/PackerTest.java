package dev.tfdpo.trainer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import dev.tfdpo.data.TokenizedPair;
import dev.tfdpo.graphs.training.Batch;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The packed layout of small hand-made pairs, checked entry by entry against a hand derivation. */
class PackerTest {

  static final int PAD = 9;

  /** Pair 0: prompt [1 10 11], chosen [20 21 2], rejected [30 2]: 8 tokens. */
  static final TokenizedPair A = new TokenizedPair(0, new int[] {1, 10, 11}, new int[] {20, 21, 2}, new int[] {30, 2});

  /** Pair 1: prompt [1 12], chosen [22 2], rejected [31 32 2]: 7 tokens. */
  static final TokenizedPair B = new TokenizedPair(1, new int[] {1, 12}, new int[] {22, 2}, new int[] {31, 32, 2});

  /** Pair 2: 6 tokens. */
  static final TokenizedPair C = new TokenizedPair(2, new int[] {1}, new int[] {23, 2}, new int[] {33, 34, 2});

  @Test
  void oneRowHoldsTwoSegments() {
    Batch b = new Packer(PAD, 16, true, ShapeBuckets.NONE).build(List.of(A, B));
    assertEquals(1, b.rows());
    assertEquals(15, b.length(), "trimmed to the longest row");
    assertArrayEquals(new int[] {1, 10, 11, 20, 21, 2, 30, 2, 1, 12, 22, 2, 31, 32, 2}, b.inputIds());
    // Rejected positions continue from the prompt's end as if chosen were not there.
    assertArrayEquals(new int[] {0, 1, 2, 3, 4, 5, 3, 4, 0, 1, 2, 3, 2, 3, 4}, b.positionIds());
    assertArrayEquals(new int[] {1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2}, b.segmentIds());
    assertArrayEquals(new int[] {0, 0, 0, 1, 1, 1, 2, 2, 0, 0, 1, 1, 2, 2, 2}, b.branchIds());
    // Sequences: chosen A = 0, chosen B = 1, rejected A = 2, rejected B = 3; all chosen first.
    // The prompt's last position (2 for A, 9 for B) predicts the first token of both completions.
    assertArrayEquals(new int[] {2, 3, 4, 9, 10, 2, 6, 9, 12, 13}, b.lossPositions());
    assertArrayEquals(new int[] {20, 21, 2, 22, 2, 30, 2, 31, 32, 2}, b.lossTargets());
    assertArrayEquals(new int[] {0, 0, 0, 1, 1, 2, 2, 3, 3, 3}, b.lossSequences());
    assertEquals(2, b.numPairs());
    assertEquals(15, b.rowTokens());
    assertEquals(8 + 3 + 7 + 2, b.realTokens(), "TRL's count: each sequence with its prompt");
    assertArrayEquals(new long[] {0, 1}, b.pairIndices());
  }

  @Test
  void predictionsMatchThePaddedLayoutSequenceBySequence() {
    List<TokenizedPair> pairs = List.of(A, B, C);
    Batch packed = new Packer(PAD, 12, true, ShapeBuckets.NONE).build(pairs);
    Batch padded = new Collator(PAD).build(pairs);
    // Same targets and sequences in the same order: both layouts sum the same terms per sequence.
    assertArrayEquals(padded.lossTargets(), packed.lossTargets());
    assertArrayEquals(padded.lossSequences(), packed.lossSequences());
    assertEquals(padded.realTokens(), packed.realTokens());
    // Each predicting position sees the token before its target at the same RoPE position as in the
    // padded row (position of the predictor = its index in its own prompt + completion sequence).
    for (int k = 0; k < packed.lossPositions().length; k++) {
      assertEquals(padded.positionIds()[padded.lossPositions()[k]], packed.positionIds()[packed.lossPositions()[k]]);
      assertEquals(padded.inputIds()[padded.lossPositions()[k]], packed.inputIds()[packed.lossPositions()[k]]);
    }
  }

  @Test
  void greedyFillsEarlierRowsInOrderDoesNot() {
    TokenizedPair small = new TokenizedPair(3, new int[] {1}, new int[] {24}, new int[] {35, 2});
    List<TokenizedPair> pairs = List.of(A, B, small, C);
    Batch greedy = new Packer(PAD, 12, true, ShapeBuckets.NONE).build(pairs);
    Batch inOrder = new Packer(PAD, 12, false, ShapeBuckets.NONE).build(pairs);
    // Greedy: A row 0, B row 1, small (4) back into row 0 (8 + 4 = 12), C (6) row 2.
    assertEquals(3, greedy.rows());
    assertArrayEquals(new int[] {1, 10, 11, 20, 21, 2, 30, 2, 1, 24, 35, 2}, Arrays.copyOfRange(greedy.inputIds(), 0, 12));
    // In order: A row 0, B row 1, small joins the last row (7 + 4 = 11), C row 2; longest row 11.
    assertEquals(3, inOrder.rows());
    assertEquals(11, inOrder.length());
    assertArrayEquals(new int[] {1, 12, 22, 2, 31, 32, 2, 1, 24, 35, 2}, Arrays.copyOfRange(inOrder.inputIds(), 11, 22));
    assertEquals(greedy.lossTargets().length, inOrder.lossTargets().length);
  }

  @Test
  void bucketsRoundTheRowAndAddFillers() {
    Batch b = new Packer(PAD, 64, true, new ShapeBuckets(16, 8)).build(List.of(A, B));
    assertEquals(16, b.length());
    assertEquals(16, b.lossPositions().length, "10 predictions rounded up to 16");
    for (int k = 10; k < 16; k++) {
      assertEquals(-1, b.lossSequences()[k]);
    }
    Batch capped = new Packer(PAD, 15, true, new ShapeBuckets(16, 1)).build(List.of(A, B));
    assertEquals(15, capped.length(), "never beyond max_seq_len");
  }

  @Test
  void aPairOverTheRowIsRefused() {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> new Packer(PAD, 7, true, ShapeBuckets.NONE).build(List.of(A)));
    assertTrue(e.getMessage().contains("pair 0 has 8 tokens"), e.getMessage());
  }
}
