package dev.tfdpo.trainer.config;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.lang.reflect.RecordComponent;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;
import java.util.TreeSet;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;

/** The key table is the one declaration: the records and the configuration page follow it. */
class ConfigTableTest {

  static final Path ROOT = Path.of(System.getProperty("tfdpo.root", "..")).toAbsolutePath().normalize();

  @Test
  void everyKeyIsOneComponentOfItsSectionsRecordAndNothingElseIs() {
    Map<ConfigKey.Section, Class<? extends Record>> records = Map.of(
        ConfigKey.Section.MODEL, ModelArgs.class,
        ConfigKey.Section.DATA, DataArgs.class,
        ConfigKey.Section.TRAINING, TrainingArgs.class,
        ConfigKey.Section.DPO, DpoArgs.class);
    for (ConfigKey.Section section : ConfigKey.Section.values()) {
      var keys = Arrays.stream(ConfigKey.values()).filter(k -> k.section() == section)
          .map(ConfigKey::jsonName).collect(Collectors.toCollection(TreeSet::new));
      var components = Arrays.stream(records.get(section).getRecordComponents()).map(RecordComponent::getName)
          .map(ConfigTableTest::snakeCase).collect(Collectors.toCollection(TreeSet::new));
      assertEquals(keys, components, section + ": ConfigKey entries vs " + records.get(section).getSimpleName());
    }
  }

  @Test
  void theConfigurationPageHoldsTheGeneratedTable() throws Exception {
    String page = Files.readString(ROOT.resolve("docs/configuration.md"));
    assertEquals(ConfigTable.markdown(), ConfigTable.tableIn(page),
        "docs/configuration.md is behind ConfigKey; regenerate its table with ConfigTable.main");
  }

  /** Gson's LOWER_CASE_WITH_UNDERSCORES spelling of a component name. */
  private static String snakeCase(String camel) {
    return camel.replaceAll("([A-Z])", "_$1").toLowerCase(java.util.Locale.ROOT);
  }
}
