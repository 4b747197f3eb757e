// What both Scala baselines share: reading the TSV the Rust side writes, the row checksum, and the
// timing harness. Nothing here is timed except what a baseline's `run` does.
package spanflow.bench

import java.io.{BufferedReader, FileInputStream, InputStreamReader}
import java.nio.charset.StandardCharsets
import scala.collection.mutable.ArrayBuffer

/** The input events as parsed columns (one entry per event, in stream order; `null` = absent). */
final class Columns(
    val sessionId: Array[String],
    val timestamp: Array[Long],
    val seq: Array[Long], // Columns.NoSeq when absent
    val playerState: Array[String],
    val userAction: Array[String],
    val cdn: Array[String],
    val network: Array[String]
) {
  def length: Int = sessionId.length

  /** Fresh session id strings (same text, new objects), so no iteration profits from String
    * hash codes cached by the previous one: a consumer reading Kafka gets new strings too. */
  def refreshSessionIds(): Unit = {
    var i = 0
    while (i < sessionId.length) {
      sessionId(i) = new String(sessionId(i).toCharArray)
      i += 1
    }
  }
}

object Columns {
  val NoSeq: Long = Long.MinValue

  private val Header = "sessionId\ttimestamp\tseq\tplayerState\tuserAction\tcdn\tnetwork"

  /** Reads the TSV: a header line, then one event per line; an empty field is null. */
  def read(path: String): Columns = {
    val in = new BufferedReader(new InputStreamReader(new FileInputStream(path), StandardCharsets.UTF_8), 1 << 16)
    try {
      val header = in.readLine()
      if (header != Header) sys.error(s"$path: unexpected header `$header`")
      val ids = new ArrayBuffer[String]
      val ts = new ArrayBuffer[Long]
      val seqs = new ArrayBuffer[Long]
      val ps, ua, cdn, net = new ArrayBuffer[String]
      var line = in.readLine()
      while (line != null) {
        if (line.nonEmpty) {
          val f = line.split("\t", -1)
          if (f.length != 7) sys.error(s"$path: expected 7 fields, got ${f.length} in `$line`")
          def opt(s: String): String = if (s.isEmpty) null else s
          ids += f(0)
          ts += f(1).toLong
          seqs += (if (f(2).isEmpty) NoSeq else f(2).toLong)
          ps += opt(f(3)); ua += opt(f(4)); cdn += opt(f(5)); net += opt(f(6))
        }
        line = in.readLine()
      }
      new Columns(ids.toArray, ts.toArray, seqs.toArray, ps.toArray, ua.toArray, cdn.toArray, net.toArray)
    } finally in.close()
  }
}

/** The order-independent row checksum, defined exactly as on the Rust side
  * (`benches/support/scala.rs`): rows, null values, wrapping sums of row times and of
  * round(value * 1000) over non-null numbers (booleans as 1/0). */
final class Checksum {
  var rows: Long = 0L
  var nulls: Long = 0L
  var time: Long = 0L
  var value: Long = 0L

  def row(t: Long): Unit = { rows += 1; time += t }
  def number(v: Double): Unit = value += Checksum.roundHalfAway(v * 1000.0).toLong
  def bool(b: Boolean): Unit = if (b) value += 1000L
  def nul(): Unit = nulls += 1

  override def toString: String = s"rows=$rows;nulls=$nulls;time=$time;value=$value"
}

object Checksum {
  /** Rust's `f64::round`: half away from zero (`math.round` rounds half up, and returns a Long). */
  def roundHalfAway(x: Double): Double = {
    if (x.isNaN || x.isInfinite) return x
    val a = math.abs(x)
    val f = math.floor(a)
    val r = if (a - f >= 0.5) f + 1.0 else f
    java.lang.Math.copySign(r, x)
  }

  /** The output rows' rounding of numeric columns (to a microsecond of a second), as spanflow's
    * `evaluate_at::sample` does. */
  def round6(v: Double): Double = roundHalfAway(v * 1e6) / 1e6
}

/** One baseline: evaluates a spec over the parsed events and returns the checksum and session count. */
trait Baseline {
  def name: String
  def specs: Seq[String]
  /** Prepares the per-run input (untimed), e.g. converting columns to the baseline's records. */
  def prepare(cols: Columns): Unit
  /** The timed part: grouping per session, the DAG, and the output rows (into the checksum). */
  def run(spec: String, sink: Checksum): Long // returns the number of sessions
}

object Harness {
  /** `main(args)`: TSV path, timed iterations, [warm-up iterations]. One JSON line per spec. */
  def main(baseline: Baseline, args: Array[String]): Unit = {
    if (args.length < 2) {
      System.err.println(s"usage: ${baseline.name} EVENTS.tsv ITERATIONS [WARMUP]")
      sys.exit(2)
    }
    val cols = Columns.read(args(0))
    val iterations = math.max(1, args(1).toInt)
    val warmup = if (args.length > 2) args(2).toInt else 5
    val events = cols.length.toLong
    for (spec <- baseline.specs) {
      var checksum: String = null
      var sessions = 0L
      def once(): Long = {
        cols.refreshSessionIds()
        baseline.prepare(cols)
        System.gc()
        val sink = new Checksum
        val t0 = System.nanoTime()
        sessions = baseline.run(spec, sink)
        val dt = System.nanoTime() - t0
        val cs = sink.toString
        if (checksum != null && checksum != cs)
          sys.error(s"${baseline.name} $spec: checksum changed between iterations: $checksum vs $cs")
        checksum = cs
        dt
      }
      for (_ <- 0 until warmup) once()
      val times = Array.fill(iterations)(once()).sorted
      val median =
        if (iterations % 2 == 1) times(iterations / 2).toDouble
        else (times(iterations / 2 - 1) + times(iterations / 2)) / 2.0
      val perEvent = if (events == 0) 0.0 else median / events
      val best = if (events == 0) 0.0 else times(0).toDouble / events
      println(
        "{\"impl\":\"" + baseline.name + "\",\"spec\":\"" + spec + "\",\"sessions\":" + sessions +
          ",\"events\":" + events + ",\"iterations\":" + iterations + ",\"warmup\":" + warmup +
          ",\"ns_per_event\":" + "%.3f".formatLocal(java.util.Locale.ROOT, perEvent) + ",\"ns_per_event_best\":" + "%.3f".formatLocal(java.util.Locale.ROOT, best) +
          ",\"checksum\":\"" + checksum + "\"}"
      )
    }
  }
}
