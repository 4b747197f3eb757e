//! `evaluate_at`: the digester that samples timelines into output rows.
//!
//! Each output of a spec evaluates its columns at chosen instants: every input event, the
//! session's end, every N seconds of event time (aligned to the epoch), or each event of a node.
//! Values are read at the instant itself, after the changes at that instant (spans are
//! half-open), and numeric columns are evaluated exactly on their linear piece.

use crate::AnyOperator;
use schemars::JsonSchema;
use serde::Deserialize;
use smallvec::SmallVec;
use spanflow_engine::{Interner, Interpreter, Kind, Scalar, StepCtx, Time, Val};

/// When an output is evaluated. `N` is how a node is referred to: a spec name, then an index.
#[derive(Clone, Debug, PartialEq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
#[schemars(description = "When the output's rows are evaluated.")]
pub enum EvaluationPoints<N> {
    /// At the time of every input event (the "real-time" metric stream).
    EveryEvent,
    /// Once, at the session's last event time, when the session ends.
    SessionEnd,
    /// Every this many seconds of event time, at multiples of it since the epoch.
    EverySecs(crate::Secs),
    /// At each event of this (event) node.
    EventsOf(N),
}

impl<N> EvaluationPoints<N> {
    /// The same points with the node reference mapped.
    pub fn map<M>(self, f: impl FnOnce(N) -> M) -> EvaluationPoints<M> {
        match self {
            EvaluationPoints::EveryEvent => EvaluationPoints::EveryEvent,
            EvaluationPoints::SessionEnd => EvaluationPoints::SessionEnd,
            EvaluationPoints::EverySecs(s) => EvaluationPoints::EverySecs(s),
            EvaluationPoints::EventsOf(n) => EvaluationPoints::EventsOf(f(n)),
        }
    }
}

/// One output row: which output, when, and the column values (`None` = undefined/null).
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    /// Index of the output in the program.
    pub output: usize,
    /// Evaluation time (epoch ms).
    pub time: Time,
    /// One value per column.
    pub values: SmallVec<[Option<Scalar>; 4]>,
}

/// The digester of one output: immutable; it reads its columns' values from the DAG's slots
/// and step buffers, so it keeps nothing per session (the session's last digested step is
/// kept by the runner, shared by all outputs).
#[derive(Clone, Debug)]
pub struct EvaluateAt {
    /// This output's index.
    pub output: usize,
    /// When to evaluate.
    pub points: EvaluationPoints<usize>,
    /// Node indices of the columns.
    pub columns: Vec<usize>,
}

/// The DAG as a digester sees it after a step: each column's step buffer and values.
pub(crate) struct DagView<'a> {
    pub(crate) interp: &'a Interpreter<'a, AnyOperator>,
    pub(crate) words: &'a [u64],
}

/// One column's cursor over its node's step output.
struct Column<'a> {
    items: &'a [(Time, Val)],
    pos: usize,
    events: bool,
}

impl Column<'_> {
    fn instant(&self) -> Option<Time> {
        self.items.get(self.pos).map(|&(t, _)| t)
    }
}

impl EvaluateAt {
    /// Reads one step's output of the DAG and emits this output's rows of the step.
    pub(crate) fn step(&self, dag: &DagView<'_>, cx: &StepCtx<'_>, emit: &mut impl FnMut(&Row)) {
        let buf = |i: usize| dag.interp.output(i);
        // Most steps of a session-end or periodic output change no column and reach no point.
        let fires = cx.session_end
            || match self.points {
                EvaluationPoints::EveryEvent => !cx.records.is_empty(),
                EvaluationPoints::SessionEnd => false,
                EvaluationPoints::EverySecs(s) => {
                    next_multiple(cx.from(), s.millis(), cx.is_first()) <= cx.now
                }
                EvaluationPoints::EventsOf(node) => !buf(node).is_empty(),
            };
        // Columns are read from the DAG's slots and step buffers, so a step that reaches no
        // evaluation point has nothing to do: no column value needs keeping between points.
        if !fires {
            return;
        }
        let strings = cx.strings;
        match self.points {
            // One row at `now`: every column's value after the step (its slot), event columns
            // the last event at `now`. No walk over the step's changes.
            EvaluationPoints::EveryEvent | EvaluationPoints::SessionEnd
                if matches!(self.points, EvaluationPoints::SessionEnd) == cx.session_end =>
            {
                let values = self
                    .columns
                    .iter()
                    .map(|&i| {
                        if dag.interp.plan().nodes[i].ty.kind == Kind::Event {
                            buf(i)
                                .items
                                .last()
                                .filter(|(s, _)| *s == cx.now && !cx.session_end)
                                .and_then(|(_, v)| sample(v, cx.now, strings))
                        } else {
                            sample(&dag.interp.value(dag.words, i), cx.now, strings)
                        }
                    })
                    .collect();
                emit(&Row {
                    output: self.output,
                    time: cx.now,
                    values,
                });
                return;
            }
            // Every-event outputs emit nothing at the session's end.
            EvaluationPoints::EveryEvent => return,
            _ => {}
        }
        let plan = dag.interp.plan();
        let mut cols: SmallVec<[Column<'_>; 4]> = SmallVec::new();
        let mut currents: SmallVec<[Val; 4]> = SmallVec::new();
        for &i in &self.columns {
            let events = plan.nodes[i].ty.kind == Kind::Event;
            cols.push(Column {
                items: &buf(i).items,
                pos: 0,
                events,
            });
            currents.push(if events {
                Val::Undef
            } else {
                dag.interp.value_before(dag.words, i)
            });
        }
        // Event columns show the event's value only at its own instant.
        let mut event_values: SmallVec<[Option<Scalar>; 4]> = smallvec::smallvec![None; cols.len()];
        let mut emit_row = |t: Time, currents: &[Val], event_values: &[Option<Scalar>]| {
            let values = currents
                .iter()
                .zip(event_values)
                .map(|(c, e)| e.clone().or_else(|| sample(c, t, strings)))
                .collect();
            emit(&Row {
                output: self.output,
                time: t,
                values,
            });
        };
        let period = match self.points {
            EvaluationPoints::EverySecs(s) if !cx.session_end => Some(s.millis()),
            _ => None,
        };
        let mut next_tick = period.map(|p| next_multiple(cx.from(), p, cx.is_first()));
        let marks: SmallVec<[Time; 4]> = match self.points {
            EvaluationPoints::EventsOf(node) => {
                let mut m: SmallVec<[Time; 4]> = buf(node).items.iter().map(|&(t, _)| t).collect();
                m.dedup();
                m
            }
            _ => SmallVec::new(),
        };
        let mut marks = marks.into_iter().peekable();
        loop {
            let change = cols.iter().filter_map(Column::instant).min();
            let point = match (next_tick.filter(|&t| t <= cx.now), marks.peek()) {
                (Some(a), Some(&b)) => Some(a.min(b)),
                (a, b) => a.or(b.copied()),
            };
            // A point before the next change sees the values as they are.
            if let Some(p) = point.filter(|&p| change.is_none_or(|c| p < c)) {
                emit_row(p, &currents, &event_values);
                advance(&mut next_tick, period, &mut marks, p);
                continue;
            }
            let Some(t) = change else { break };
            for (k, c) in cols.iter_mut().enumerate() {
                if c.instant() != Some(t) {
                    event_values[k] = None;
                    continue;
                }
                if c.events {
                    let n = c.items[c.pos..].iter().take_while(|(s, _)| *s == t).count();
                    let last = c.items[c.pos + n - 1].1;
                    c.pos += n;
                    event_values[k] = sample(&last, t, strings);
                } else {
                    currents[k] = c.items[c.pos].1;
                    c.pos += 1;
                    event_values[k] = None;
                }
            }
            if point == Some(t) {
                emit_row(t, &currents, &event_values);
                advance(&mut next_tick, period, &mut marks, t);
            }
            event_values.iter_mut().for_each(|e| *e = None);
        }
        match self.points {
            EvaluationPoints::EveryEvent if !cx.session_end && !cx.records.is_empty() => {
                // Event columns still hold their value at `now` only if they fired at `now`.
                let at_now: SmallVec<[Option<Scalar>; 4]> = cols
                    .iter()
                    .map(|c| {
                        if !c.events {
                            return None;
                        }
                        c.items
                            .last()
                            .filter(|(s, _)| *s == cx.now)
                            .and_then(|(_, v)| sample(v, cx.now, strings))
                    })
                    .collect();
                emit_row(cx.now, &currents, &at_now);
            }
            EvaluationPoints::SessionEnd if cx.session_end => {
                emit_row(cx.now, &currents, &event_values)
            }
            _ => {}
        }
    }
}

/// A column's value at `t`. Numeric pieces are rounded to a microsecond of a second: they are
/// sums of millisecond-exact durations, and the rounding removes float noise such as
/// `7.103999999999999` without touching any value a millisecond clock can produce.
fn sample(c: &Val, t: Time, strings: &Interner) -> Option<Scalar> {
    match *c {
        Val::Undef => None,
        Val::Lin { start, line } => {
            let v = line.value_at(start, t);
            Some(Scalar::F64((v * 1e6).round() / 1e6))
        }
        Val::F64(v) => Some(Scalar::F64(v)),
        Val::Bool(v) => Some(Scalar::Bool(v)),
        Val::Sym(s) => Some(Scalar::Str(strings.resolve_str(s))),
    }
}

/// Moves past the evaluation point `p`.
fn advance(
    next_tick: &mut Option<Time>,
    period: Option<i64>,
    marks: &mut std::iter::Peekable<impl Iterator<Item = Time>>,
    p: Time,
) {
    if let (Some(t), Some(period)) = (next_tick.as_mut(), period) {
        if *t == p {
            *t = t.saturating_add(period);
        }
    }
    while marks.peek() == Some(&p) {
        marks.next();
    }
}

/// The first multiple of `period` after `from` (or at it, on the session's first step).
fn next_multiple(from: Time, period: i64, inclusive: bool) -> Time {
    // `Secs::millis` is at least 1; kept safe for any caller.
    let period = period.max(1);
    let m = from.div_euclid(period) * period;
    if m == from && inclusive {
        m
    } else {
        m.saturating_add(period)
    }
}
