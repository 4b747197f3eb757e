//! What a trace shows: one session's recorded steps turned into per-node lanes (events,
//! spans, linear pieces) and each output's rows, clipped to a time window.
//!
//! The lanes are built from the changes the interpreter emitted, in order; no value is
//! recomputed. A state's span runs from its change to the next one; its last span is open.

use spanflow_engine::{Kind, Linear, Scalar, Time, TimelineType, ValueType};
use spanflow_operators::evaluate_at::EvaluationPoints;
use spanflow_operators::recorder::{Recorded, RecordedSession};
use spanflow_operators::Program;

/// A state's value over `[start, end)`; `end` is `None` for the open last span.
#[derive(Clone, Debug, PartialEq)]
pub struct Span {
    /// First instant.
    pub start: Time,
    /// First instant after it; `None`: open (until the next change, which never came).
    pub end: Option<Time>,
    /// The value; `None` is undefined.
    pub value: Option<Scalar>,
}

/// A numeric timeline's piece over `[start, end)`: value at `start` and slope, or undefined.
#[derive(Clone, Debug, PartialEq)]
pub struct Piece {
    /// First instant.
    pub start: Time,
    /// First instant after it; `None`: open.
    pub end: Option<Time>,
    /// The line; `None` is undefined.
    pub line: Option<Linear>,
}

impl Piece {
    /// The piece's value at `t` (exact: the interpreter's own line).
    pub fn value_at(&self, t: Time) -> Option<f64> {
        self.line.map(|l| l.value_at(self.start, t))
    }
}

/// One node's timeline.
#[derive(Clone, Debug, PartialEq)]
pub enum Lane {
    /// The input records (`event_source`): how many at each instant.
    Records(Vec<(Time, usize)>),
    /// Events: `(instant, value)`, several per instant allowed.
    Events(Vec<(Time, Option<Scalar>)>),
    /// A state: consecutive spans.
    State(Vec<Span>),
    /// A numeric timeline: consecutive pieces.
    Numeric(Vec<Piece>),
}

/// One node of the plan and its timeline.
#[derive(Clone, Debug, PartialEq)]
pub struct NodeLane {
    /// The node id.
    pub id: String,
    /// The operator's name.
    pub op: &'static str,
    /// The node's type.
    pub ty: TimelineType,
    /// What it emitted.
    pub lane: Lane,
}

/// One output's rows of the session.
#[derive(Clone, Debug, PartialEq)]
pub struct OutputLane {
    /// The output's name.
    pub name: String,
    /// When it is evaluated, as in the spec (`session_end`, `every 60 s`, ...).
    pub when: String,
    /// Its column names.
    pub columns: Vec<String>,
    /// `(time, value per column)`; `None` is null.
    pub rows: Vec<(Time, Vec<Option<Scalar>>)>,
}

/// One session of one key, ready to draw.
#[derive(Clone, Debug, PartialEq)]
pub struct SessionTrace {
    /// The spec's name.
    pub spec: String,
    /// The session key.
    pub key: String,
    /// The session's first and last step times.
    pub start: Time,
    /// See `start`.
    pub last: Time,
    /// The window drawn (within the session, or as asked).
    pub from: Time,
    /// See `from`.
    pub to: Time,
    /// Input events of the session.
    pub events: usize,
    /// One lane per node, in plan order.
    pub nodes: Vec<NodeLane>,
    /// One lane per output.
    pub outputs: Vec<OutputLane>,
}

impl SessionTrace {
    /// The lanes of `session` (of `key`), clipped to `[from, to]` (default: the session).
    pub fn build(
        program: &Program,
        key: &str,
        session: &RecordedSession,
        from: Option<Time>,
        to: Option<Time>,
    ) -> Self {
        let start = session.start().unwrap_or(0);
        let last = session.last().unwrap_or(start);
        let (from, to) = (from.unwrap_or(start), to.unwrap_or(last));
        let nodes = program
            .plan
            .nodes
            .iter()
            .enumerate()
            .map(|(i, n)| NodeLane {
                id: n.id.clone(),
                op: spanflow_engine::Evaluate::name(&n.op),
                ty: n.ty,
                lane: clip(lane_of(session, i, n.ty, start), from, to),
            })
            .collect();
        let outputs = program
            .outputs
            .iter()
            .enumerate()
            .map(|(k, o)| OutputLane {
                name: o.name.clone(),
                when: points_name(program, &o.digest.points),
                columns: o.columns.clone(),
                rows: session
                    .rows
                    .iter()
                    .filter(|r| r.output == k && from <= r.time && r.time <= to)
                    .map(|r| (r.time, r.values.to_vec()))
                    .collect(),
            })
            .collect();
        SessionTrace {
            spec: program.name.clone(),
            key: key.to_string(),
            start,
            last,
            from,
            to,
            events: session.steps.iter().map(|s| s.records).sum(),
            nodes,
            outputs,
        }
    }
}

/// `session_end`, `every_event`, `every 60 s`, `events of seeks`.
fn points_name(program: &Program, points: &EvaluationPoints<usize>) -> String {
    match points {
        EvaluationPoints::EveryEvent => "every_event".into(),
        EvaluationPoints::SessionEnd => "session_end".into(),
        EvaluationPoints::EverySecs(s) => format!("every {} s", s.0),
        EvaluationPoints::EventsOf(i) => format!("events of {}", program.plan.nodes[*i].id),
    }
}

fn scalar(v: &Recorded) -> Option<Scalar> {
    match v {
        Recorded::Scalar(s) => Some(s.clone()),
        Recorded::Undefined | Recorded::Line { .. } => None,
    }
}

/// Node `i`'s timeline over the whole session, from what it emitted step by step.
fn lane_of(session: &RecordedSession, i: usize, ty: TimelineType, start: Time) -> Lane {
    let items = session
        .steps
        .iter()
        .flat_map(|s| s.outputs.iter().filter(|o| o.node == i))
        .flat_map(|o| o.items.iter());
    match (ty.kind, ty.value) {
        (Kind::Event, ValueType::Record) => Lane::Records(
            session
                .steps
                .iter()
                .filter(|s| s.records > 0)
                .map(|s| (s.now, s.records))
                .collect(),
        ),
        (Kind::Event, _) => Lane::Events(items.map(|(t, v)| (*t, scalar(v))).collect()),
        (Kind::State, _) => {
            let mut spans: Vec<Span> = Vec::new();
            for (t, v) in items {
                push_span(
                    &mut spans,
                    start,
                    *t,
                    scalar(v),
                    |s| &mut s.end,
                    |s| s.start,
                );
            }
            if spans.is_empty() {
                spans.push(Span {
                    start,
                    end: None,
                    value: None,
                });
            }
            Lane::State(spans)
        }
        (Kind::Numeric, _) => {
            let mut pieces: Vec<Piece> = Vec::new();
            for (t, v) in items {
                let line = match v {
                    Recorded::Line { start, line } => Some(line.rebase(*start, *t)),
                    Recorded::Scalar(Scalar::F64(x)) => Some(Linear::constant(*x)),
                    _ => None,
                };
                push_span(&mut pieces, start, *t, line, |p| &mut p.end, |p| p.start);
            }
            if pieces.is_empty() {
                pieces.push(Piece {
                    start,
                    end: None,
                    line: None,
                });
            }
            Lane::Numeric(pieces)
        }
    }
}

/// Appends the change at `t` to `v`: closes the open span, and puts an undefined span before
/// a first change after the session's start.
fn push_span<S: From<(Time, Option<Time>, Option<V>)>, V>(
    spans: &mut Vec<S>,
    start: Time,
    t: Time,
    value: Option<V>,
    end_of: impl Fn(&mut S) -> &mut Option<Time>,
    start_of: impl Fn(&S) -> Time,
) {
    match spans.last_mut() {
        Some(last) => *end_of(last) = Some(t),
        None if t > start => spans.push(S::from((start, Some(t), None))),
        None => {}
    }
    debug_assert!(spans.last().is_none_or(|s| start_of(s) <= t));
    spans.push(S::from((t, None, value)));
}

impl From<(Time, Option<Time>, Option<Scalar>)> for Span {
    fn from((start, end, value): (Time, Option<Time>, Option<Scalar>)) -> Self {
        Span { start, end, value }
    }
}

impl From<(Time, Option<Time>, Option<Linear>)> for Piece {
    fn from((start, end, line): (Time, Option<Time>, Option<Linear>)) -> Self {
        Piece { start, end, line }
    }
}

/// Keeps what lies in `[from, to]`: events inside, spans overlapping (not cut: their own
/// times stay exact; the drawing clips them).
fn clip(lane: Lane, from: Time, to: Time) -> Lane {
    let overlaps = |s: Time, e: Option<Time>| s <= to && e.is_none_or(|e| e > from);
    match lane {
        Lane::Records(v) => Lane::Records(
            v.into_iter()
                .filter(|(t, _)| from <= *t && *t <= to)
                .collect(),
        ),
        Lane::Events(v) => Lane::Events(
            v.into_iter()
                .filter(|(t, _)| from <= *t && *t <= to)
                .collect(),
        ),
        Lane::State(v) => Lane::State(v.into_iter().filter(|s| overlaps(s.start, s.end)).collect()),
        Lane::Numeric(v) => {
            Lane::Numeric(v.into_iter().filter(|p| overlaps(p.start, p.end)).collect())
        }
    }
}
