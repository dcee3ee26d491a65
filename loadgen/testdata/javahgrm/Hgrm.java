import org.HdrHistogram.Histogram;
import java.io.*;
import java.util.*;
// Hgrm writes, for each case file named on the command line, HdrHistogram's
// own percentile distribution to <file>.java, so that loadgen's WriteHgrm can
// be checked against the Java implementation (TestHgrmMatchesJava).
// A case file is a line "lowest highest digits unitRatio" followed by
// "value count" lines.
public class Hgrm {
  public static void main(String[] a) throws Exception {
    for (String path : a) {
      BufferedReader r = new BufferedReader(new FileReader(path));
      String[] h = r.readLine().trim().split(" ");
      Histogram hist = new Histogram(Long.parseLong(h[0]), Long.parseLong(h[1]), Integer.parseInt(h[2]));
      double ratio = Double.parseDouble(h[3]);
      String line;
      while ((line = r.readLine()) != null) {
        String[] f = line.trim().split(" ");
        if (f.length < 2) continue;
        hist.recordValueWithCount(Long.parseLong(f[0]), Long.parseLong(f[1]));
      }
      PrintStream out = new PrintStream(new FileOutputStream(path + ".java"));
      hist.outputPercentileDistribution(out, 5, ratio);
      out.close();
    }
  }
}
