package dev.tfdpo.graphs.training;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import org.tensorflow.Operand;
import org.tensorflow.Output;
import org.tensorflow.Session;
import org.tensorflow.ndarray.NdArrays;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.op.Op;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Placeholder;
import org.tensorflow.op.core.Variable;
import org.tensorflow.op.train.Restore;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TString;
import org.tensorflow.types.family.TType;

/**
 * Save and restore ops for a fixed set of float variables, in TensorFlow's own checkpoint format
 * (SaveV2: {@code prefix.index} and {@code prefix.data-*}, readable by {@code tf.train.load_checkpoint}).
 *
 * <p>Built with the graph rather than through {@code Session.save}, which would add saver ops to the
 * graph at the first save, and so that the checkpoint holds exactly the chosen variables under stable
 * names ({@code policy/<hf name>}, {@code adam_m/<hf name>}, ...).
 */
final class StateCheckpoint {

  private final Placeholder<TString> prefix;
  private final Op save;
  private final Op restore;

  /** @param state checkpoint key to variable, in a fixed order */
  StateCheckpoint(Ops tf, Map<String, Variable<TFloat32>> state) {
    int n = state.size();
    prefix = tf.withName("prefix").placeholder(TString.class, Placeholder.shape(Shape.scalar())); // []
    Operand<TString> names = tf.constant(NdArrays.vectorOfObjects(state.keySet().toArray(new String[0]))); // [n]
    Operand<TString> slices = tf.constant(NdArrays.vectorOfObjects(Collections.nCopies(n, "").toArray(new String[0]))); // [n]
    List<Operand<?>> values = new ArrayList<>(state.values());
    save = tf.withName("save").train.save(prefix, names, slices, values);
    List<Class<? extends TType>> types = new ArrayList<>(Collections.nCopies(n, TFloat32.class));
    Restore restored = tf.train.restore(prefix, names, slices, types);
    List<Op> assigns = new ArrayList<>(n);
    int i = 0;
    for (Variable<TFloat32> variable : state.values()) {
      @SuppressWarnings("unchecked")
      Output<TFloat32> value = (Output<TFloat32>) restored.tensors().get(i++);
      assigns.add(tf.assign(variable, value));
    }
    restore = tf.withControlDependencies(assigns).withName("restore").noOp();
  }

  void save(Session session, Path file) {
    try (TString p = TString.scalarOf(file.toString())) {
      session.runner().feed(prefix, p).addTarget(save).run();
    }
  }

  void restore(Session session, Path file) {
    try (TString p = TString.scalarOf(file.toString())) {
      session.runner().feed(prefix, p).addTarget(restore).run();
    }
  }
}
