package dev.tfdpo.ops;

import java.util.ArrayList;
import java.util.List;
import org.tensorflow.Session;

/** Test helper: a runner's float32 fetches as flat arrays, in fetch order. */
final class Fetched {

  private Fetched() {}

  static List<float[]> floats(Session.Runner runner) {
    List<float[]> out = new ArrayList<>();
    try (var r = runner.run()) {
      for (int i = 0; i < r.size(); i++) {
        float[] values = new float[(int) r.get(i).shape().size()];
        r.get(i).asRawTensor().data().asFloats().read(values);
        out.add(values);
      }
    }
    return out;
  }
}
