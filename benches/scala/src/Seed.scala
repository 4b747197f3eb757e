// The "seed style" baseline: the design Conviva describes for its original Scala Timeline library
// (talk "Lessons: Porting a Streaming Pipeline from Scala to Rust", Scale by the Bay 2023):
//
//   class Timeline extends BufferedIterator[Span[Payload]]
//   final case class Span[+A](start: Timestamp, end: Timestamp, payload: A) { def mapPayload ... }
//   type Event[+A] = Span[EventsAtSpanEnd[A]];  EventsAtSpanEnd(events: Iterable[A])
//
// One heap object per span, payloads typed `Any` (numbers and booleans boxed), event payloads
// wrapping an Iterable over an Array, operators as classes behind a virtual `step` that pattern-
// match on their inputs' payloads, and a generic interpreter that builds each session's DAG from a
// small description mirroring the YAML spec. Written as a plain, reasonable implementation of that
// design -- not tuned, not sabotaged. Semantics follow spanflow's operators step for step (the
// checksum comparison in benches/scala_check.rs proves the rows are the same).
package spanflow.bench.seed

import spanflow.bench.{Baseline, Checksum, Columns, Harness}
import scala.collection.mutable
import scala.collection.mutable.ArrayBuffer

// ---------------------------------------------------------------------------------------------
// Data model

final case class Span[+A](start: Long, end: Long, payload: A) {
  def mapPayload[B](f: A => B): Span[B] = copy(payload = f(payload))
}

object Span {
  /** The end of a state span that lasts until the next change. */
  val Open: Long = Long.MaxValue
}

/** The events that happen at the end of an event span. */
final case class EventsAtSpanEnd[+A](events: Iterable[A])

/** A state's value before it is known (before its first event). */
case object Undefined

/** A piece of a numeric timeline: its value at the span's start and its slope per second. */
final case class Linear(atStart: Double, perSec: Double) {
  def valueAt(start: Long, t: Long): Double =
    if (perSec == 0.0 || t == start) atStart else atStart + perSec * ((t - start).toDouble / 1000.0)
}

/** An input event: its time, sequence number and field values (by slot; null = absent). */
final case class Record(time: Long, seq: Option[Long], fields: Array[Any])

/** One step's output of a node, read once by one consumer. State spans start in the step's
  * interval (the last one open-ended); event spans end at their events' instant. */
final class Timeline(spans: IndexedSeq[Span[Any]]) extends BufferedIterator[Span[Any]] {
  private[this] var i = 0
  def hasNext: Boolean = i < spans.length
  def head: Span[Any] = spans(i)
  def next(): Span[Any] = { val s = spans(i); i += 1; s }

  /** When the head span acts: at its end for events, at its start for states. */
  def headInstant: Option[Long] = if (hasNext) Some(Timeline.instantOf(head)) else None

  /** The events at `t`, if the head span carries them. */
  def takeEvents(t: Long): Option[Iterable[Any]] =
    if (!hasNext) None
    else
      head match {
        case Span(_, end, EventsAtSpanEnd(events)) if end == t => next(); Some(events)
        case _ => None
      }

  /** The state span starting at `t`, if the head span is one. */
  def takeChange(t: Long): Option[Span[Any]] =
    if (!hasNext) None
    else
      head match {
        case Span(_, _, EventsAtSpanEnd(_)) => None
        case s if s.start == t => next(); Some(s)
        case _ => None
      }
}

object Timeline {
  def instantOf(s: Span[Any]): Long = s.payload match {
    case _: EventsAtSpanEnd[_] => s.end
    case _ => s.start
  }

  /** The earliest instant at which any input still has a span. */
  def nextInstant(inputs: Seq[Timeline]): Option[Long] = {
    var min: Option[Long] = None
    inputs.foreach(_.headInstant.foreach(t => if (min.forall(t < _)) min = Some(t)))
    min
  }
}

/** What a state operator remembers of its output between steps: the current span. */
final class LastState {
  var start: Long = Long.MinValue
  var value: Any = Undefined

  def continuesAs(t: Long, v: Any): Boolean = (value, v) match {
    case (l: Linear, n: Linear) => l.perSec == n.perSec && l.valueAt(start, t) == n.atStart
    case (a, b) => a == b
  }
}

/** The spans a node emits in one step. */
final class Out {
  private val spans = new ArrayBuffer[Span[Any]](4)

  def isEmpty: Boolean = spans.isEmpty
  def result: IndexedSeq[Span[Any]] = spans

  /** A state change to `v` at `t`, unless it continues the current span; equal neighbours merge. */
  def pushState(last: LastState, t: Long, v: Any): Unit =
    if (!last.continuesAs(t, v)) {
      if (spans.nonEmpty) spans(spans.length - 1) = spans.last.copy(end = t)
      spans += Span(t, Span.Open, v)
      last.start = t
      last.value = v
    }

  /** An event with value `v` at `t`; `from` is where the step's first event span starts. */
  def pushEvent(from: Long, t: Long, v: Any): Unit =
    if (spans.isEmpty) spans += Span(math.min(from, t), t, EventsAtSpanEnd(Array[Any](v)))
    else {
      val s = spans.last
      if (s.end == t)
        spans(spans.length - 1) = s.mapPayload { case EventsAtSpanEnd(events) => EventsAtSpanEnd(events ++ Array[Any](v)) }
      else spans += Span(s.end, t, EventsAtSpanEnd(Array[Any](v)))
    }

  def pushEvents(from: Long, t: Long, events: Iterable[Any]): Unit = spans += Span(from, t, EventsAtSpanEnd(events))
}

/** What a step knows besides its inputs. */
final case class StepCtx(prev: Option[Long], now: Long, records: IndexedSeq[Record], sessionEnd: Boolean) {
  def isFirst: Boolean = prev.isEmpty
  def from: Long = prev.getOrElse(now)
}

// ---------------------------------------------------------------------------------------------
// Operators: one instance per node and session, holding that session's state.

abstract class Operator {
  def step(inputs: Array[Timeline], cx: StepCtx): IndexedSeq[Span[Any]]
}

final class EventSource extends Operator {
  def step(inputs: Array[Timeline], cx: StepCtx): IndexedSeq[Span[Any]] = {
    val out = new Out
    if (cx.records.nonEmpty) out.pushEvents(cx.from, cx.now, cx.records)
    out.result
  }
}

/** One field of each record, as events; absent fields emit nothing. */
final class Get(slot: Int) extends Operator {
  def step(inputs: Array[Timeline], cx: StepCtx): IndexedSeq[Span[Any]] = {
    val out = new Out
    inputs(0).foreach {
      case Span(_, t, EventsAtSpanEnd(records)) =>
        records.foreach {
          case r: Record => val v = r.fields(slot); if (v != null) out.pushEvent(cx.from, t, v)
          case _ =>
        }
      case _ =>
    }
    out.result
  }
}

/** Events to state: holds the last event's value until the next event. */
final class LatestEventToState extends Operator {
  private val last = new LastState

  def step(inputs: Array[Timeline], cx: StepCtx): IndexedSeq[Span[Any]] = {
    val out = new Out
    inputs(0).foreach {
      case Span(_, t, EventsAtSpanEnd(events)) => events.lastOption.foreach(v => out.pushState(last, t, v))
      case _ =>
    }
    out.result
  }
}

/** Pointwise operators over state and event inputs (at most one of them events). */
abstract class Pointwise(inputIsEvents: Array[Boolean]) extends Operator {
  protected val currents: Array[Any] = Array.fill[Any](inputIsEvents.length)(Undefined)
  private val last = new LastState

  /** The output for the inputs' current values; `Undefined` emits no event. */
  protected def f(values: Array[Any]): Any

  private def takeChanges(inputs: Array[Timeline], t: Long): Unit =
    for (i <- inputs.indices if !inputIsEvents(i))
      inputs(i).takeChange(t).foreach(s => currents(i) = s.payload)

  def step(inputs: Array[Timeline], cx: StepCtx): IndexedSeq[Span[Any]] = {
    val out = new Out
    val ev = inputIsEvents.indexWhere(identity)
    var computed = false
    var next = Timeline.nextInstant(inputs)
    while (next.isDefined) {
      val t = next.get
      takeChanges(inputs, t)
      if (ev >= 0) {
        inputs(ev).takeEvents(t).foreach { events =>
          events.foreach { v =>
            currents(ev) = v
            f(currents) match {
              case Undefined =>
              case r => out.pushEvent(cx.from, t, r)
            }
          }
          currents(ev) = Undefined
        }
      } else {
        out.pushState(last, t, f(currents))
        computed = true
      }
      next = Timeline.nextInstant(inputs)
    }
    // A state output is defined from the session's first step even if no input changed.
    if (ev < 0 && cx.isFirst && !computed) out.pushState(last, cx.now, f(currents))
    out.result
  }
}

/** `equals` with a constant: undefined compares false. */
final class Equals(value: Any, inputIsEvents: Array[Boolean]) extends Pointwise(inputIsEvents) {
  protected def f(values: Array[Any]): Any = values(0) match {
    case Undefined => false
    case v => v == value
  }
}

final class Not(inputIsEvents: Array[Boolean]) extends Pointwise(inputIsEvents) {
  protected def f(values: Array[Any]): Any = values(0) match {
    case b: Boolean => !b
    case _ => Undefined
  }
}

/** Undefined inputs count as false. */
final class And(inputIsEvents: Array[Boolean]) extends Pointwise(inputIsEvents) {
  protected def f(values: Array[Any]): Any = values.forall(_ == true)
}

/** False until the input is first true, then true forever (and the input is no longer read). */
final class HasExisted extends Operator {
  private val last = new LastState

  def step(inputs: Array[Timeline], cx: StepCtx): IndexedSeq[Span[Any]] = {
    val out = new Out
    if (last.value == true) return out.result
    val in = inputs(0)
    while (in.hasNext) {
      val s = in.next()
      val trueNow = s.payload match {
        case EventsAtSpanEnd(events) => events.exists(_ == true)
        case v => v == true
      }
      if (trueNow) {
        out.pushState(last, Timeline.instantOf(s), true)
        return out.result
      }
    }
    if (cx.isFirst) out.pushState(last, cx.now, false)
    out.result
  }
}

/** True on [t, t + within) after a true event at t (later trues extend it); a true state stays
  * true while true and for `within` after. The window closes exactly, between events too. */
final class HasExistedWithin(withinMs: Long) extends Operator {
  private var until: Option[Long] = None
  private var input: Any = Undefined
  private val last = new LastState

  def step(inputs: Array[Timeline], cx: StepCtx): IndexedSeq[Span[Any]] = {
    val out = new Out
    val in = inputs(0)
    var done = false
    while (!done) {
      val next = in.headInstant
      until.foreach { u =>
        if (next.fold(u <= cx.now)(t => u < t)) {
          out.pushState(last, u, false)
          until = None
        }
      }
      next match {
        case None => done = true
        case Some(t) =>
          in.next() match {
            case Span(_, _, EventsAtSpanEnd(events)) =>
              if (events.exists(_ == true)) {
                until = Some(t + withinMs)
                out.pushState(last, t, true)
              } else if (until.exists(_ <= t)) {
                out.pushState(last, t, false)
                until = None
              }
            case s =>
              val wasTrue = input == true
              input = s.payload
              if (input == true) {
                until = None
                out.pushState(last, t, true)
              } else if (wasTrue) until = Some(t + withinMs)
          }
      }
    }
    if (cx.isFirst && out.isEmpty) out.pushState(last, cx.now, false)
    out.result
  }
}

/** Seconds a boolean state has been true: since the session started, or within a trailing window
  * (the slope drops when a true stretch leaves the window). */
final class DurationWhere(windowMs: Option[Long]) extends Operator {
  private val pending = mutable.Queue.empty[(Long, Boolean)]
  private var input = false
  private var trailing = false
  private val last = new LastState

  def step(inputs: Array[Timeline], cx: StepCtx): IndexedSeq[Span[Any]] = {
    val out = new Out
    val in = inputs(0)
    var computed = false
    var done = false
    while (!done) {
      val next = in.headInstant
      val edge = windowMs.flatMap(w => pending.headOption.map(_._1 + w)).filter(_ <= next.getOrElse(cx.now))
      edge.orElse(next) match {
        case None => done = true
        case Some(t) =>
          if (edge.contains(t))
            while (pending.nonEmpty && windowMs.exists(w => pending.head._1 + w == t)) trailing = pending.dequeue()._2
          if (next.contains(t))
            in.takeChange(t).foreach { s =>
              input = s.payload == true
              if (windowMs.isDefined) pending.enqueue((t, input))
            }
          val soFar = last.value match {
            case l: Linear => l.valueAt(last.start, t)
            case _ => 0.0
          }
          val slope = (if (input) 1.0 else 0.0) - (if (windowMs.isDefined && trailing) 1.0 else 0.0)
          out.pushState(last, t, Linear(soFar, slope))
          computed = true
      }
    }
    if (cx.isFirst && !computed) out.pushState(last, cx.now, Linear(0.0, 0.0))
    out.result
  }
}

// ---------------------------------------------------------------------------------------------
// Outputs: digesters that sample columns into rows.

sealed trait Points
case object EveryEvent extends Points
case object SessionEnd extends Points
final case class EverySecs(secs: Long) extends Points

final case class Row(output: String, session: String, time: Long, values: IndexedSeq[Option[Any]])

final class EvaluateAt(output: String, points: Points, columns: Array[Int]) {
  private val currents = Array.fill[Span[Any]](columns.length)(null)

  def step(outputs: Int => IndexedSeq[Span[Any]], cx: StepCtx, session: String, emit: Row => Unit): Unit = {
    val cols = columns.map(i => new Timeline(outputs(i)))
    val eventValues = Array.fill[Option[Any]](columns.length)(None)
    def sample(i: Int, t: Long): Option[Any] = eventValues(i).orElse(Option(currents(i)).flatMap { s =>
      s.payload match {
        case l: Linear => Some(Checksum.round6(l.valueAt(s.start, t)))
        case Undefined => None
        case v => Some(v)
      }
    })
    def emitAt(t: Long): Unit = emit(Row(output, session, t, columns.indices.map(sample(_, t))))
    val period = points match {
      case EverySecs(s) if !cx.sessionEnd => Some(s * 1000L)
      case _ => None
    }
    var nextTick = period.map { p =>
      val m = Math.floorDiv(cx.from, p) * p
      if (m == cx.from && cx.isFirst) m else m + p
    }
    var done = false
    while (!done) {
      val change = Timeline.nextInstant(cols)
      val point = nextTick.filter(_ <= cx.now)
      point.filter(p => change.forall(p < _)) match {
        case Some(p) =>
          emitAt(p) // a point before the next change sees the values as they are
          nextTick = period.map(p + _)
        case None =>
          change match {
            case None => done = true
            case Some(t) =>
              for (i <- cols.indices) {
                cols(i).takeChange(t).foreach(s => currents(i) = s)
                eventValues(i) = cols(i).takeEvents(t).flatMap(_.lastOption)
              }
              if (point.contains(t)) {
                emitAt(t)
                nextTick = period.map(t + _)
              }
              for (i <- eventValues.indices) eventValues(i) = None
          }
      }
    }
    points match {
      case EveryEvent if !cx.sessionEnd && cx.records.nonEmpty =>
        // Event columns show a value at `now` only if they fired at `now`.
        for (i <- columns.indices)
          eventValues(i) = outputs(columns(i)).lastOption.collect {
            case Span(_, end, EventsAtSpanEnd(events)) if end == cx.now => events.lastOption
          }.flatten
        emitAt(cx.now)
      case SessionEnd if cx.sessionEnd => emitAt(cx.now)
      case _ =>
    }
  }
}

// ---------------------------------------------------------------------------------------------
// The DAG description, plan and interpreter.

final case class NodeDesc(id: String, op: String, inputs: Seq[String] = Nil, params: Map[String, Any] = Map.empty)
final case class OutputDesc(name: String, points: Points, columns: Seq[String])
final case class DagDesc(name: String, nodes: Seq[NodeDesc], outputs: Seq[OutputDesc])

/** A checked DAG: node order, input indices and whether each node emits events. */
final class Plan(val desc: DagDesc, fieldSlots: Map[String, Int]) {
  val nodes: Array[NodeDesc] = desc.nodes.toArray
  private val index: Map[String, Int] = nodes.map(_.id).zipWithIndex.toMap
  val inputs: Array[Array[Int]] = nodes.map(_.inputs.map(index).toArray)
  val isEvents: Array[Boolean] = {
    val ev = new Array[Boolean](nodes.length)
    for (i <- nodes.indices) ev(i) = nodes(i).op match {
      case "event_source" | "get" => true
      case "equals" | "not" | "and" => inputs(i).exists(ev(_))
      case _ => false
    }
    ev
  }
  val outputs: Array[(String, Points, Array[Int])] =
    desc.outputs.map(o => (o.name, o.points, o.columns.map(index).toArray)).toArray

  def instantiate(i: Int): Operator = {
    val n = nodes(i)
    val inEvents = inputs(i).map(isEvents(_))
    n.op match {
      case "event_source" => new EventSource
      case "get" => new Get(fieldSlots(n.params("field").toString))
      case "latest_event_to_state" => new LatestEventToState
      case "equals" => new Equals(n.params("value"), inEvents)
      case "not" => new Not(inEvents)
      case "and" => new And(inEvents)
      case "has_existed" => new HasExisted
      case "has_existed_within" => new HasExistedWithin(n.params("within_secs").asInstanceOf[Long] * 1000L)
      case "duration_where" => new DurationWhere(n.params.get("window_secs").map(_.asInstanceOf[Long] * 1000L))
      case other => sys.error(s"unknown operator $other")
    }
  }

  def newSession(key: String): SessionDag = new SessionDag(this, key)
}

/** One session's operators and digesters, stepped once per instant. */
final class SessionDag(plan: Plan, key: String) {
  private val ops: Array[Operator] = plan.nodes.indices.map(plan.instantiate).toArray
  private val digests: Array[EvaluateAt] = plan.outputs.map { case (n, p, c) => new EvaluateAt(n, p, c) }
  private val outputs = new Array[IndexedSeq[Span[Any]]](ops.length)
  private var last: Option[Long] = None
  private var ended = false

  def step(now: Long, records: IndexedSeq[Record], emit: Row => Unit): Unit = {
    require(!ended && last.forall(_ < now), s"step at $now after ${last.getOrElse("the end")}")
    val cx = StepCtx(last, now, records, sessionEnd = false)
    run(cx)
    last = Some(now)
    digests.foreach(_.step(outputs, cx, key, emit))
  }

  /** Ends the session at its last step's time: digests emit their session-end rows. */
  def end(emit: Row => Unit): Unit = last.foreach { t =>
    if (!ended) {
      val cx = StepCtx(Some(t), t, Vector.empty, sessionEnd = true)
      run(cx)
      digests.foreach(_.step(outputs, cx, key, emit))
      ended = true
    }
  }

  private def run(cx: StepCtx): Unit =
    for (i <- ops.indices) outputs(i) = ops(i).step(plan.inputs(i).map(j => new Timeline(outputs(j))), cx)
}

/** A session's DAG and its events not yet stepped. */
final class OpenSession(val dag: SessionDag) {
  var newest: Long = Long.MinValue
  val waiting = new ArrayBuffer[Record](2)

  def add(r: Record): Unit = {
    newest = math.max(newest, r.time)
    waiting.insert(waiting.lastIndexWhere(_.time <= r.time) + 1, r)
  }

  /** One step per distinct time before `horizon`; events sharing a time form one step. */
  def releaseBefore(horizon: Long, sequenced: Boolean, emit: Row => Unit): Unit =
    while (waiting.nonEmpty && waiting.head.time < horizon) {
      val t = waiting.head.time
      val n = waiting.prefixLength(_.time == t)
      val batch = waiting.take(n)
      dag.step(t, if (sequenced) batch.sortBy(_.seq.getOrElse(Long.MinValue)) else batch, emit)
      waiting.remove(0, n)
    }
}

/** Groups interleaved events per session key (like a Kafka partition) and drives their DAGs. A
  * file's sessions end at the end of the input; events behind their session's newest are late
  * and dropped (no lateness allowance, no session gap: the specs set none). */
final class SessionProcessor(plan: Plan, sequenced: Boolean, emit: Row => Unit) {
  private val sessions = mutable.HashMap.empty[String, OpenSession]
  var opened = 0L

  def push(key: String, r: Record): Unit = {
    val s = sessions.getOrElseUpdate(key, { opened += 1; new OpenSession(plan.newSession(key)) })
    if (r.time >= s.newest) {
      s.add(r)
      s.releaseBefore(s.newest, sequenced, emit)
    }
  }

  def finish(): Unit =
    for (k <- sessions.keys.toVector.sorted) {
      val s = sessions.remove(k).get
      s.releaseBefore(Long.MaxValue, sequenced, emit)
      s.dag.end(emit)
    }
}

object Specs {
  /** Record slots of the heartbeat fields the specs read. */
  val Fields: Map[String, Int] = Map("playerState" -> 0, "userAction" -> 1, "cdn" -> 2, "network" -> 3)

  /** dag-specs/video/connection_induced_rebuffering.yaml */
  val Cir = DagDesc(
    "connection_induced_rebuffering",
    Seq(
      NodeDesc("events", "event_source"),
      NodeDesc("player_state_updates", "get", Seq("events"), Map("field" -> "playerState")),
      NodeDesc("player_state", "latest_event_to_state", Seq("player_state_updates")),
      NodeDesc("is_buffering", "equals", Seq("player_state"), Map("value" -> "buffer")),
      NodeDesc("play_started", "equals", Seq("player_state_updates"), Map("value" -> "play")),
      NodeDesc("has_started_playing", "has_existed", Seq("play_started")),
      NodeDesc("user_actions", "get", Seq("events"), Map("field" -> "userAction")),
      NodeDesc("is_seek", "equals", Seq("user_actions"), Map("value" -> "seek")),
      NodeDesc("seeked_recently", "has_existed_within", Seq("is_seek"), Map("within_secs" -> 5L)),
      NodeDesc("not_during_seek", "not", Seq("seeked_recently")),
      NodeDesc("cdn_updates", "get", Seq("events"), Map("field" -> "cdn")),
      NodeDesc("cdn", "latest_event_to_state", Seq("cdn_updates")),
      NodeDesc("is_cdn1", "equals", Seq("cdn"), Map("value" -> "CDN1")),
      NodeDesc("connection_induced_buffering", "and", Seq("is_buffering", "has_started_playing", "not_during_seek")),
      NodeDesc("cir_buffering_on_cdn1", "and", Seq("connection_induced_buffering", "is_cdn1")),
      NodeDesc("cir_secs_cdn1", "duration_where", Seq("cir_buffering_on_cdn1")),
      NodeDesc("cir_secs_all_cdns", "duration_where", Seq("connection_induced_buffering"))
    ),
    Seq(OutputDesc("cir_per_session", SessionEnd, Seq("cir_secs_cdn1", "cir_secs_all_cdns")))
  )

  /** dag-specs/video/play_time_on_cdn.yaml */
  val PlayTime = DagDesc(
    "play_time_on_cdn",
    Seq(
      NodeDesc("events", "event_source"),
      NodeDesc("player_state_updates", "get", Seq("events"), Map("field" -> "playerState")),
      NodeDesc("player_state", "latest_event_to_state", Seq("player_state_updates")),
      NodeDesc("is_playing", "equals", Seq("player_state"), Map("value" -> "play")),
      NodeDesc("network_updates", "get", Seq("events"), Map("field" -> "network")),
      NodeDesc("network", "latest_event_to_state", Seq("network_updates")),
      NodeDesc("is_wifi", "equals", Seq("network"), Map("value" -> "wifi")),
      NodeDesc("cdn_updates", "get", Seq("events"), Map("field" -> "cdn")),
      NodeDesc("cdn", "latest_event_to_state", Seq("cdn_updates")),
      NodeDesc("is_cdn1", "equals", Seq("cdn"), Map("value" -> "CDN1")),
      NodeDesc("playing_on_cdn1_wifi", "and", Seq("is_playing", "is_wifi", "is_cdn1")),
      NodeDesc("play_secs", "duration_where", Seq("playing_on_cdn1_wifi")),
      NodeDesc("play_secs_last_minute", "duration_where", Seq("playing_on_cdn1_wifi"), Map("window_secs" -> 60L))
    ),
    Seq(
      OutputDesc("play_time_realtime", EveryEvent, Seq("play_secs")),
      OutputDesc("play_time_per_minute", EverySecs(60L), Seq("play_secs", "play_secs_last_minute"))
    )
  )

  val ByName: Map[String, DagDesc] = Map("cir" -> Cir, "play_time" -> PlayTime)
}

object SeedBaseline extends Baseline {
  val name = "scala-seed"
  val specs: Seq[String] = Seq("cir", "play_time")
  private var events: Array[(String, Record)] = Array.empty

  def prepare(cols: Columns): Unit =
    events = Array.tabulate(cols.length) { i =>
      val seq = if (cols.seq(i) == Columns.NoSeq) None else Some(cols.seq(i))
      val fields = Array[Any](cols.playerState(i), cols.userAction(i), cols.cdn(i), cols.network(i))
      (cols.sessionId(i), Record(cols.timestamp(i), seq, fields))
    }

  def run(spec: String, sink: Checksum): Long = {
    val plan = new Plan(Specs.ByName(spec), Specs.Fields)
    val processor = new SessionProcessor(plan, sequenced = true, { row =>
      sink.row(row.time)
      row.values.foreach {
        case None => sink.nul()
        case Some(d: Double) => sink.number(d)
        case Some(b: Boolean) => sink.bool(b)
        case Some(_) =>
      }
    })
    events.foreach { case (key, r) => processor.push(key, r) }
    processor.finish()
    processor.opened
  }
}

object SeedMain {
  def main(args: Array[String]): Unit = Harness.main(SeedBaseline, args)
}
