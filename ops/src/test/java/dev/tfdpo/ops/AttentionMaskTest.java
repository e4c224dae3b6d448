package dev.tfdpo.ops;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.tensorflow.Graph;
import org.tensorflow.Operand;
import org.tensorflow.Session;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.ndarray.buffer.DataBuffers;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Placeholder;
import org.tensorflow.types.TBool;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt32;

/**
 * The in-graph mask against a naive looped construction written from the layout's definition (not
 * from segment and branch ids): on random rows packed with random {@code [prompt, chosen, rejected]}
 * segments, padded single sequences and padding, query q sees key k exactly when both lie in the same
 * sequence part of the same segment, {@code k <= q}, and not (q in rejected and k in chosen).
 */
class AttentionMaskTest {

  /** What each token is, from the layout alone. */
  record Token(int segment, char part) {} // part: p(rompt), c(hosen), r(ejected), s(ingle), '.' padding

  @Test
  void matchesTheNaiveRuleOnRandomLayouts() {
    Random random = new Random(20241121);
    try (Graph g = new Graph()) {
      Ops tf = Ops.create(g);
      Placeholder<TInt32> segments = tf.placeholder(TInt32.class);
      Placeholder<TInt32> branches = tf.placeholder(TInt32.class);
      Operand<TBool> mask = AttentionMask.build(tf, segments, branches); // [R, 1, L, L]
      Operand<TFloat32> bias = AttentionMask.bias(tf, segments, branches); // [R, 1, L, L]
      try (Session s = new Session(g)) {
        int checked = 0;
        for (int trial = 0; trial < 40; trial++) {
          int rows = 1 + random.nextInt(4);
          int length = 1 + random.nextInt(48);
          Token[][] layout = new Token[rows][];
          for (int r = 0; r < rows; r++) {
            layout[r] = randomRow(random, length, trial * 100 + r * 10);
          }
          int[] seg = new int[rows * length];
          int[] branch = new int[rows * length];
          for (int r = 0; r < rows; r++) {
            for (int t = 0; t < length; t++) {
              Token tok = layout[r][t];
              seg[r * length + t] = tok.part() == '.' ? 0 : tok.segment();
              branch[r * length + t] = switch (tok.part()) {
                case 'c' -> 1;
                case 'r' -> 2;
                default -> 0;
              };
            }
          }
          try (TInt32 segT = TInt32.tensorOf(Shape.of(rows, length), DataBuffers.of(seg));
              TInt32 branchT = TInt32.tensorOf(Shape.of(rows, length), DataBuffers.of(branch));
              var out = s.runner().feed(segments, segT).feed(branches, branchT).fetch(mask).fetch(bias).run()) {
            TBool m = (TBool) out.get(0);
            TFloat32 b = (TFloat32) out.get(1);
            assertEquals(Shape.of(rows, 1, length, length), m.shape());
            for (int r = 0; r < rows; r++) {
              for (int q = 0; q < length; q++) {
                for (int k = 0; k < length; k++) {
                  boolean want = naive(layout[r], q, k);
                  assertEquals(want, m.getBoolean(r, 0, q, k), "row " + r + " q " + q + " k " + k + " trial " + trial);
                  assertEquals(want ? 0f : Attention.MASKED_SCORE, b.getFloat(r, 0, q, k));
                  checked++;
                }
              }
            }
          }
        }
        assertTrue(checked > 10_000, "checked " + checked);
      }
    }
  }

  /** The rule, from the parts of the row only. */
  static boolean naive(Token[] row, int q, int k) {
    Token a = row[q];
    Token b = row[k];
    if (a.part() == '.' || b.part() == '.' || a.segment() != b.segment() || k > q) {
      return false;
    }
    return !(a.part() == 'r' && b.part() == 'c');
  }

  /** A row of random packed segments and single sequences, then padding. */
  static Token[] randomRow(Random random, int length, int firstSegment) {
    List<Token> row = new ArrayList<>();
    int segment = firstSegment + 1;
    while (row.size() < length && random.nextInt(5) != 0) {
      if (random.nextBoolean()) {
        int p = random.nextInt(6);
        int c = 1 + random.nextInt(6);
        int r = 1 + random.nextInt(6);
        add(row, segment, 'p', p);
        add(row, segment, 'c', c);
        add(row, segment, 'r', r);
      } else {
        add(row, segment, 's', 1 + random.nextInt(10));
      }
      segment++;
    }
    while (row.size() > length) {
      row.remove(row.size() - 1); // a cut segment is still a valid (shorter) layout
    }
    while (row.size() < length) {
      row.add(new Token(0, '.'));
    }
    return row.toArray(new Token[0]);
  }

  private static void add(List<Token> row, int segment, char part, int n) {
    for (int i = 0; i < n; i++) {
      row.add(new Token(segment, part));
    }
  }
}
