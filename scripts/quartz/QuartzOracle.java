/*
 * QuartzOracle: asks org.quartz.CronExpression (Debian's libquartz2-java) for the truth that
 * ds-monitor's cron module is tested against. Driven by scripts/quartz/generate.py; see there for
 * how to rerun.
 *
 * Reads one case per line on stdin, tab-separated:
 *     ZONE <TAB> START_EPOCH_SECONDS <TAB> COUNT <TAB> EXPRESSION
 * ZONE "-" only validates. Writes one line per case on stdout:
 *     OK <TAB> t1 t2 ... tCOUNT      (epoch seconds of the successive getTimeAfter results;
 *                                     "none" once Quartz returns null)
 *     ERR <TAB> message             (the ParseException text; the expression is invalid)
 *     BROKEN <TAB> what             (Quartz accepted the expression, but getTimeAfter threw or
 *                                     did not return within HANG_MILLIS)
 */
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.text.ParseException;
import java.util.Date;
import java.util.TimeZone;

import org.quartz.CronExpression;

public final class QuartzOracle {
    private static final long HANG_MILLIS = 3000;

    public static void main(String[] args) throws Exception {
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        PrintWriter out = new PrintWriter(System.out, false, StandardCharsets.UTF_8);
        String line;
        while ((line = in.readLine()) != null) {
            String[] parts = line.split("\t", 4);
            out.println(answer(parts[0], Long.parseLong(parts[1]), Integer.parseInt(parts[2]), parts[3]));
        }
        out.flush();
    }

    private static String answer(String zone, long startEpochSeconds, int count, String expression) {
        CronExpression cron;
        try {
            cron = new CronExpression(expression);
        } catch (ParseException err) {
            return "ERR\t" + oneLine(err.getMessage());
        }
        if (zone.equals("-")) {
            return "OK\t";
        }
        cron.setTimeZone(TimeZone.getTimeZone(zone));
        String[] result = new String[1];
        // Some expressions Quartz accepts make getTimeAfter loop forever (e.g. "0W"): run it on a
        // thread we can give up on.
        Thread worker = new Thread(() -> result[0] = fireTimes(cron, startEpochSeconds, count));
        worker.setDaemon(true);
        worker.start();
        try {
            worker.join(HANG_MILLIS);
        } catch (InterruptedException err) {
            Thread.currentThread().interrupt();
        }
        if (worker.isAlive()) {
            stop(worker);
            return "BROKEN\tgetTimeAfter did not return";
        }
        return result[0];
    }

    private static String fireTimes(CronExpression cron, long startEpochSeconds, int count) {
        StringBuilder fires = new StringBuilder();
        Date t = new Date(startEpochSeconds * 1000L);
        try {
            for (int i = 0; i < count; i++) {
                if (t != null) {
                    t = cron.getTimeAfter(t);
                }
                if (i > 0) {
                    fires.append(' ');
                }
                fires.append(t == null ? "none" : Long.toString(t.getTime() / 1000L));
            }
        } catch (RuntimeException err) {
            return "BROKEN\tgetTimeAfter threw " + oneLine(err.toString());
        }
        return "OK\t" + fires;
    }

    @SuppressWarnings({"deprecation", "removal"})
    private static void stop(Thread worker) {
        worker.stop(); // a pure computing loop: nothing is left half-done that matters here
    }

    private static String oneLine(String message) {
        return message == null ? "" : message.replace('\n', ' ').replace('\t', ' ');
    }
}
