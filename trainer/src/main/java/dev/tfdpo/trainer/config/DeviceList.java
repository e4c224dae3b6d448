package dev.tfdpo.trainer.config;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The {@code devices} key: data-parallel replicas in one process, as full TensorFlow device names.
 * A single positive count {@code n} means n virtual CPU devices {@code CPU:0 .. CPU:n-1}; names are
 * {@code CPU:<i>} or {@code GPU:<i>} (optionally {@code /device:} in front), all of one type, each once.
 * An empty list (the default) or a count of 1 is one device, without any explicit placement.
 */
public final class DeviceList {

  private static final Pattern NAME = Pattern.compile("(?:/device:)?(CPU|GPU):(\\d+)", Pattern.CASE_INSENSITIVE);

  private DeviceList() {}

  /**
   * Full device names ({@code /device:CPU:1}), one per replica; {@code [""]} for the single-device
   * default.
   *
   * @throws IllegalArgumentException naming the bad item and what is accepted
   */
  public static List<String> parse(List<String> items) {
    if (items.isEmpty()) {
      return List.of("");
    }
    if (items.size() == 1 && items.get(0).trim().matches("\\d+(\\.0)?")) {
      int n = (int) Double.parseDouble(items.get(0).trim());
      if (n < 1) {
        throw new IllegalArgumentException("a device count must be at least 1, got " + items.get(0));
      }
      List<String> cpus = new ArrayList<>();
      for (int k = 0; k < n && n > 1; k++) {
        cpus.add("/device:CPU:" + k);
      }
      return n == 1 ? List.of("") : cpus;
    }
    List<String> out = new ArrayList<>();
    String type = null;
    for (String item : items) {
      Matcher m = NAME.matcher(item.trim());
      if (!m.matches()) {
        throw new IllegalArgumentException("'" + item + "' is neither a device count nor a device name like "
            + "\"CPU:1\" or \"GPU:0\"");
      }
      String t = m.group(1).toUpperCase(Locale.ROOT);
      if (type != null && !type.equals(t)) {
        throw new IllegalArgumentException("replicas must all be CPUs or all GPUs, got " + items);
      }
      type = t;
      String name = "/device:" + t + ":" + Integer.parseInt(m.group(2));
      if (out.contains(name)) {
        throw new IllegalArgumentException(item + " is listed twice: each replica needs its own device");
      }
      out.add(name);
    }
    return out;
  }
}
