package dev.tfdpo.report;

import java.awt.Color;
import java.awt.Graphics2D;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.NavigableMap;
import javax.imageio.ImageIO;
import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;
import org.knowm.xchart.XYSeries;
import org.knowm.xchart.style.Styler;
import org.knowm.xchart.style.markers.SeriesMarkers;

/** XChart line charts rendered to PNG without a display. */
final class Charts {

  /** Size of a single chart, pixels. */
  static final int WIDTH = 800;
  static final int HEIGHT = 500;
  /** Height of the difference panel under a comparison overlay. */
  static final int DIFF_HEIGHT = 300;

  static {
    // The trainer and the tools run on servers without a display; AWT must not look for one. Setting it
    // here covers callers (the trainer) that did not pass -Djava.awt.headless=true.
    if (System.getProperty("java.awt.headless") == null) {
      System.setProperty("java.awt.headless", "true");
    }
  }

  /** One named curve. Non-finite values are left out when drawn (XChart cannot place them). */
  record Line(String name, NavigableMap<Long, Double> points) {}

  private Charts() {}

  /**
   * A line chart of {@code lines} against the step, or null when no line has a finite point. Markers are
   * drawn when a line has few points so that sparse evaluation curves stay visible.
   */
  static XYChart lineChart(String title, String yLabel, List<Line> lines, int width, int height) {
    XYChart chart = new XYChartBuilder().width(width).height(height).title(title)
        .xAxisTitle("step").yAxisTitle(yLabel).build();
    chart.getStyler().setChartBackgroundColor(Color.WHITE);
    chart.getStyler().setLegendPosition(Styler.LegendPosition.InsideNE);
    chart.getStyler().setLegendVisible(lines.size() > 1);
    boolean any = false;
    for (Line line : lines) {
      List<Double> xs = new ArrayList<>();
      List<Double> ys = new ArrayList<>();
      for (Map.Entry<Long, Double> point : line.points().entrySet()) {
        if (Double.isFinite(point.getValue())) {
          xs.add(point.getKey().doubleValue());
          ys.add(point.getValue());
        }
      }
      if (xs.isEmpty()) {
        continue;
      }
      XYSeries series = chart.addSeries(line.name(), xs, ys);
      boolean sparse = xs.size() <= 20;
      series.setMarker(sparse ? SeriesMarkers.CIRCLE : SeriesMarkers.NONE);
      any = true;
    }
    return any ? chart : null;
  }

  /** Renders {@code charts} stacked vertically into one PNG at {@code out} (parent folders created). */
  static void writePng(Path out, XYChart... charts) throws IOException {
    int width = 0;
    int height = 0;
    List<BufferedImage> images = new ArrayList<>();
    for (XYChart chart : charts) {
      BufferedImage image = BitmapEncoder.getBufferedImage(chart);
      images.add(image);
      width = Math.max(width, image.getWidth());
      height += image.getHeight();
    }
    BufferedImage page = new BufferedImage(width, height, BufferedImage.TYPE_INT_RGB);
    Graphics2D g = page.createGraphics();
    try {
      g.setColor(Color.WHITE);
      g.fillRect(0, 0, width, height);
      int y = 0;
      for (BufferedImage image : images) {
        g.drawImage(image, 0, y, null);
        y += image.getHeight();
      }
    } finally {
      g.dispose();
    }
    Path parent = out.toAbsolutePath().getParent();
    if (parent != null) {
      Files.createDirectories(parent);
    }
    if (!ImageIO.write(page, "png", out.toFile())) {
      throw new IOException("no PNG writer available in this Java runtime (writing " + out + ")");
    }
  }
}
