// The "tuned" baseline: the same two DAGs and the same semantics, written for speed in Scala.
// Each spec is a hand-fused per-session state machine over primitive fields (no Span objects, no
// boxing, no per-step allocation), reading the parsed event columns directly with while loops.
// Sessions are grouped with a java.util.HashMap keyed by session id, as in the seed version.
// Every instant a spanflow operator reacts to is reproduced (state changes at events, a seek
// window closing between events, a sliding window's trailing edge passing a change, every
// minute of event time), with the same floating-point operations, so rows match bit for bit.
package spanflow.bench.tuned

import spanflow.bench.{Baseline, Checksum, Columns, Harness}

/** The events of one instant still waiting for a newer event (or the end) before they step. */
abstract class SessionBase {
  var newest: Long = Long.MinValue
  var pending: Array[Int] = new Array[Int](2)
  var npending: Int = 0
  var stepped: Boolean = false
  var lastStep: Long = 0L

  final def addPending(i: Int): Unit = {
    if (npending == pending.length) pending = java.util.Arrays.copyOf(pending, npending * 2)
    pending(npending) = i
    npending += 1
  }
}

object Piece {
  /** The value at `t` of a linear piece starting at `start` (as spanflow's `Linear::value_at`). */
  @inline def valueAt(start: Long, atStart: Double, slope: Double, t: Long): Double =
    if (slope == 0.0 || t == start) atStart else atStart + slope * ((t - start).toDouble / 1000.0)
}

/** Shared driver: grouping per session, one step per distinct instant, ordering by `seq`. */
abstract class TunedSpec[S <: SessionBase] {
  def newSession(): S
  def step(s: S, t: Long, first: Boolean, cols: Columns, sink: Checksum): Unit
  def end(s: S, sink: Checksum): Unit

  final def run(cols: Columns, sink: Checksum): Long = {
    val sessions = new java.util.HashMap[String, S](1024)
    val ids = cols.sessionId
    val ts = cols.timestamp
    val n = cols.length
    var i = 0
    while (i < n) {
      val key = ids(i)
      var s = sessions.get(key)
      if (s == null) {
        s = newSession()
        sessions.put(key, s)
      }
      val t = ts(i)
      if (t > s.newest) {
        if (s.npending > 0) release(s, cols, sink)
        s.newest = t
        s.addPending(i)
      } else if (t == s.newest) s.addPending(i)
      // else: late (behind the session's newest event), dropped
      i += 1
    }
    val it = sessions.values.iterator
    while (it.hasNext) {
      val s = it.next()
      if (s.npending > 0) release(s, cols, sink)
      end(s, sink)
    }
    sessions.size.toLong
  }

  private def release(s: S, cols: Columns, sink: Checksum): Unit = {
    val n = s.npending
    if (n > 1) {
      // Stable insertion sort by sequence (absent sorts first), as spanflow orders a step's events.
      val p = s.pending
      val seq = cols.seq
      var a = 1
      while (a < n) {
        val x = p(a)
        var b = a - 1
        while (b >= 0 && seq(p(b)) > seq(x)) { p(b + 1) = p(b); b -= 1 }
        p(b + 1) = x
        a += 1
      }
    }
    val t = s.newest
    step(s, t, !s.stepped, cols, sink)
    s.stepped = true
    s.lastStep = t
    s.npending = 0
  }
}

// ---------------------------------------------------------------------------------------------
// CIR: cir_secs_cdn1 and cir_secs_all_cdns at session end.

final class CirSession extends SessionBase {
  var isBuffer = false
  var started = false
  var seeked = false
  var seekUntil = 0L
  var cdn1 = false
  // connection_induced_buffering and its cumulative duration
  var conn = false
  var connStart = 0L
  var connAt = 0.0
  var connSlope = 0.0
  // cir_buffering_on_cdn1 and its cumulative duration
  var cir = false
  var cirStart = 0L
  var cirAt = 0.0
  var cirSlope = 0.0
}

object Cir extends TunedSpec[CirSession] {
  private final val SeekWindowMs = 5000L

  def newSession(): CirSession = new CirSession

  /** The DAG's boolean states at instant `x`; a duration starts a new piece when its input flips. */
  private def update(s: CirSession, x: Long, first: Boolean): Unit = {
    val c = s.isBuffer && s.started && !s.seeked
    val r = c && s.cdn1
    if (first || c != s.conn) {
      val soFar = if (first) 0.0 else Piece.valueAt(s.connStart, s.connAt, s.connSlope, x)
      s.connStart = x; s.connAt = soFar; s.connSlope = if (c) 1.0 else 0.0
      s.conn = c
    }
    if (first || r != s.cir) {
      val soFar = if (first) 0.0 else Piece.valueAt(s.cirStart, s.cirAt, s.cirSlope, x)
      s.cirStart = x; s.cirAt = soFar; s.cirSlope = if (r) 1.0 else 0.0
      s.cir = r
    }
  }

  def step(s: CirSession, t: Long, first: Boolean, cols: Columns, sink: Checksum): Unit = {
    // The seek window closing before this instant is an instant of its own.
    if (s.seeked && s.seekUntil < t) {
      s.seeked = false
      update(s, s.seekUntil, first = false)
    }
    val ps = cols.playerState
    val ua = cols.userAction
    val cdn = cols.cdn
    var lastPs: String = null
    var anyPlay = false
    var anySeek = false
    var lastCdn: String = null
    var k = 0
    while (k < s.npending) {
      val e = s.pending(k)
      val p = ps(e)
      if (p != null) { lastPs = p; if (p == "play") anyPlay = true }
      val a = ua(e)
      if (a != null && a == "seek") anySeek = true
      val c = cdn(e)
      if (c != null) lastCdn = c
      k += 1
    }
    if (lastPs != null) s.isBuffer = lastPs == "buffer"
    if (anyPlay) s.started = true
    if (lastCdn != null) s.cdn1 = lastCdn == "CDN1"
    if (anySeek) {
      s.seekUntil = t + SeekWindowMs
      s.seeked = true
    } else if (s.seeked && s.seekUntil == t) s.seeked = false
    update(s, t, first)
  }

  def end(s: CirSession, sink: Checksum): Unit = if (s.stepped) {
    val t = s.lastStep
    sink.row(t)
    sink.number(Checksum.round6(Piece.valueAt(s.cirStart, s.cirAt, s.cirSlope, t)))
    sink.number(Checksum.round6(Piece.valueAt(s.connStart, s.connAt, s.connSlope, t)))
  }
}

// ---------------------------------------------------------------------------------------------
// Play time: play_secs after every event; play_secs and play_secs_last_minute every minute.

final class PlaySession extends SessionBase {
  var isPlay = false
  var isWifi = false
  var isCdn1 = false
  var input = false
  // play_secs: cumulative
  var cStart = 0L
  var cAt = 0.0
  var cSlope = 0.0
  // play_secs_last_minute: sliding window, its trailing edge and the changes still inside it
  var wStart = 0L
  var wAt = 0.0
  var wSlope = 0.0
  var trailing = false
  var qTime: Array[Long] = new Array[Long](4)
  var qVal: Array[Boolean] = new Array[Boolean](4)
  var qHead = 0
  var qSize = 0
  var nextTick = 0L

  def enqueue(t: Long, v: Boolean): Unit = {
    if (qSize == qTime.length) {
      val nt = new Array[Long](qSize * 2)
      val nv = new Array[Boolean](qSize * 2)
      var i = 0
      while (i < qSize) {
        val j = (qHead + i) & (qTime.length - 1)
        nt(i) = qTime(j); nv(i) = qVal(j)
        i += 1
      }
      qTime = nt; qVal = nv; qHead = 0
    }
    val j = (qHead + qSize) & (qTime.length - 1)
    qTime(j) = t; qVal(j) = v
    qSize += 1
  }
}

object PlayTime extends TunedSpec[PlaySession] {
  private final val WindowMs = 60000L
  private final val PeriodMs = 60000L

  def newSession(): PlaySession = new PlaySession

  private def tick(s: PlaySession, p: Long, sink: Checksum): Unit = {
    sink.row(p)
    sink.number(Checksum.round6(Piece.valueAt(s.cStart, s.cAt, s.cSlope, p)))
    sink.number(Checksum.round6(Piece.valueAt(s.wStart, s.wAt, s.wSlope, p)))
  }

  /** Minute points strictly before `x`. */
  private def ticksBefore(s: PlaySession, x: Long, sink: Checksum): Unit =
    while (s.nextTick < x) { tick(s, s.nextTick, sink); s.nextTick += PeriodMs }

  private def tickAt(s: PlaySession, x: Long, sink: Checksum): Unit =
    if (s.nextTick == x) { tick(s, x, sink); s.nextTick += PeriodMs }

  /** Pops the changes whose trailing edge is at `x` (there is at least one). */
  private def passEdges(s: PlaySession, x: Long): Unit =
    while (s.qSize > 0 && s.qTime(s.qHead) + WindowMs == x) {
      s.trailing = s.qVal(s.qHead)
      s.qHead = (s.qHead + 1) & (s.qTime.length - 1)
      s.qSize -= 1
    }

  private def windowAt(s: PlaySession, x: Long, first: Boolean): Unit = {
    val slope = (if (s.input) 1.0 else 0.0) - (if (s.trailing) 1.0 else 0.0)
    if (first || slope != s.wSlope) {
      val soFar = if (first) 0.0 else Piece.valueAt(s.wStart, s.wAt, s.wSlope, x)
      s.wStart = x; s.wAt = soFar; s.wSlope = slope
    }
  }

  def step(s: PlaySession, t: Long, first: Boolean, cols: Columns, sink: Checksum): Unit = {
    if (first) {
      val m = Math.floorDiv(t, PeriodMs) * PeriodMs
      s.nextTick = if (m == t) m else m + PeriodMs
    }
    // Trailing edges between the previous instant and this one.
    while (s.qSize > 0 && s.qTime(s.qHead) + WindowMs < t) {
      val e = s.qTime(s.qHead) + WindowMs
      ticksBefore(s, e, sink)
      passEdges(s, e)
      windowAt(s, e, first = false)
      tickAt(s, e, sink)
    }
    ticksBefore(s, t, sink)
    passEdges(s, t)
    val ps = cols.playerState
    val net = cols.network
    val cdn = cols.cdn
    var lastPs: String = null
    var lastNet: String = null
    var lastCdn: String = null
    var k = 0
    while (k < s.npending) {
      val e = s.pending(k)
      if (ps(e) != null) lastPs = ps(e)
      if (net(e) != null) lastNet = net(e)
      if (cdn(e) != null) lastCdn = cdn(e)
      k += 1
    }
    if (lastPs != null) s.isPlay = lastPs == "play"
    if (lastNet != null) s.isWifi = lastNet == "wifi"
    if (lastCdn != null) s.isCdn1 = lastCdn == "CDN1"
    val b = s.isPlay && s.isWifi && s.isCdn1
    if (first || b != s.input) {
      val soFar = if (first) 0.0 else Piece.valueAt(s.cStart, s.cAt, s.cSlope, t)
      s.cStart = t; s.cAt = soFar; s.cSlope = if (b) 1.0 else 0.0
      s.input = b
      s.enqueue(t, b)
    }
    windowAt(s, t, first)
    tickAt(s, t, sink)
    // play_time_realtime: one row per instant with events.
    sink.row(t)
    sink.number(Checksum.round6(Piece.valueAt(s.cStart, s.cAt, s.cSlope, t)))
  }

  def end(s: PlaySession, sink: Checksum): Unit = ()
}

object TunedBaseline extends Baseline {
  val name = "scala-tuned"
  val specs: Seq[String] = Seq("cir", "play_time")
  private var cols: Columns = _

  def prepare(c: Columns): Unit = cols = c

  def run(spec: String, sink: Checksum): Long = spec match {
    case "cir" => Cir.run(cols, sink)
    case "play_time" => PlayTime.run(cols, sink)
  }
}

object TunedMain {
  def main(args: Array[String]): Unit = Harness.main(TunedBaseline, args)
}
