//! `evaluate_at`: the digester that samples timelines into output rows.
//!
//! Each output of a spec evaluates its columns at chosen instants: every input event, the
//! session's end, every N seconds of event time (aligned to the epoch), or each event of a node.
//! Values are read at the instant itself, after the changes at that instant (spans are
//! half-open), and numeric columns are evaluated exactly on their linear piece.

use serde::Deserialize;
use smallvec::SmallVec;
use spanflow_engine::{Current, Merge, Scalar, ScalarRef, StepCtx, Time, Timeline};

/// When an output is evaluated. `N` is how a node is referred to: a spec name, then an index.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
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

/// The digester of one output: immutable; its per-session memory is a [`DigestState`].
#[derive(Clone, Debug)]
pub struct EvaluateAt {
    /// This output's index.
    pub output: usize,
    /// When to evaluate.
    pub points: EvaluationPoints<usize>,
    /// Node indices of the columns.
    pub columns: Vec<usize>,
}

/// Per-session memory of one digester: the columns' current values.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DigestState {
    currents: SmallVec<[Current; 2]>,
    last_step: Option<Time>,
}

impl DigestState {
    /// The time of the last step this digester saw.
    pub fn last_step(&self) -> Option<Time> {
        self.last_step
    }

    /// Records the time of the step just digested.
    pub fn set_last_step(&mut self, t: Time) {
        self.last_step = Some(t);
    }
}

impl EvaluateAt {
    /// Fresh per-session state.
    pub fn init_state(&self) -> DigestState {
        DigestState {
            currents: smallvec::smallvec![Current::Undefined; self.columns.len()],
            last_step: None,
        }
    }

    /// Consumes one step's output of the DAG (`outputs(i)` gives node `i`'s) and appends rows.
    pub fn step<'a>(
        &self,
        state: &mut DigestState,
        outputs: impl Fn(usize) -> &'a Timeline,
        cx: &StepCtx<'_>,
        rows: &mut Vec<Row>,
    ) {
        // Most steps of a session-end or periodic output change no column and reach no point.
        let fires = cx.session_end
            || match self.points {
                EvaluationPoints::EveryEvent => !cx.records.is_empty(),
                EvaluationPoints::SessionEnd => false,
                EvaluationPoints::EverySecs(s) => {
                    next_multiple(cx.from(), s.millis(), cx.is_first()) <= cx.now
                }
                EvaluationPoints::EventsOf(node) => !outputs(node).is_empty(),
            };
        if !fires && self.columns.iter().all(|&i| outputs(i).is_empty()) {
            return;
        }
        let columns: SmallVec<[&Timeline; 4]> = self.columns.iter().map(|&i| outputs(i)).collect();
        let mut m = Merge::new(&columns, cx.now);
        // Event columns show the event's value only at its own instant.
        let mut event_values: SmallVec<[Option<Scalar>; 4]> =
            smallvec::smallvec![None; columns.len()];
        let mut emit = |t: Time, currents: &[Current], event_values: &[Option<Scalar>]| {
            let values = currents
                .iter()
                .zip(event_values)
                .map(|(c, e)| e.clone().or_else(|| sample(c, t)))
                .collect();
            rows.push(Row {
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
            EvaluationPoints::EventsOf(node) => event_instants(outputs(node)),
            _ => SmallVec::new(),
        };
        let mut marks = marks.into_iter().peekable();
        loop {
            let change = m.next_instant();
            let point = match (next_tick.filter(|&t| t <= cx.now), marks.peek()) {
                (Some(a), Some(&b)) => Some(a.min(b)),
                (a, b) => a.or(b.copied()),
            };
            // A point before the next change sees the values as they are.
            if let Some(p) = point.filter(|&p| change.is_none_or(|c| p < c)) {
                emit(p, &state.currents, &event_values);
                advance(&mut next_tick, period, &mut marks, p);
                continue;
            }
            let Some(t) = change else { break };
            m.take_changes(t, &mut state.currents);
            for (i, ev) in event_values.iter_mut().enumerate() {
                *ev = m
                    .take_events(i, t)
                    .and_then(|e| e.last())
                    .map(ScalarRef::to_owned);
            }
            if point == Some(t) {
                emit(t, &state.currents, &event_values);
                advance(&mut next_tick, period, &mut marks, t);
            }
            event_values.iter_mut().for_each(|e| *e = None);
        }
        match self.points {
            EvaluationPoints::EveryEvent if !cx.session_end && !cx.records.is_empty() => {
                // Event columns still hold their value at `now` only if they fired at `now`.
                let at_now: SmallVec<[Option<Scalar>; 4]> =
                    columns.iter().map(|c| last_event_at(c, cx.now)).collect();
                emit(cx.now, &state.currents, &at_now);
            }
            EvaluationPoints::SessionEnd if cx.session_end => {
                emit(cx.now, &state.currents, &event_values)
            }
            _ => {}
        }
    }
}

/// A column's value at `t`. Numeric pieces are rounded to a microsecond of a second: they are
/// sums of millisecond-exact durations, and the rounding removes float noise such as
/// `7.103999999999999` without touching any value a millisecond clock can produce.
fn sample(c: &Current, t: Time) -> Option<Scalar> {
    match c {
        Current::Linear { .. } => match c.scalar_at(t) {
            Some(ScalarRef::F64(v)) => Some(Scalar::F64((v * 1e6).round() / 1e6)),
            other => other.map(ScalarRef::to_owned),
        },
        other => other.scalar_at(t).map(ScalarRef::to_owned),
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

/// The instants at which an event timeline has events.
fn event_instants(tl: &Timeline) -> SmallVec<[Time; 4]> {
    match tl {
        Timeline::EventF64(s) => s.iter().map(|s| s.time.end).collect(),
        Timeline::EventBool(s) => s.iter().map(|s| s.time.end).collect(),
        Timeline::EventStr(s) => s.iter().map(|s| s.time.end).collect(),
        _ => SmallVec::new(),
    }
}

/// The first multiple of `period` after `from` (or at it, on the session's first step).
fn next_multiple(from: Time, period: i64, inclusive: bool) -> Time {
    let m = from.div_euclid(period) * period;
    if m == from && inclusive {
        m
    } else {
        m.saturating_add(period)
    }
}

fn last_event_at(tl: &Timeline, t: Time) -> Option<Scalar> {
    match tl {
        Timeline::EventF64(s) => s
            .last()
            .filter(|s| s.time.end == t)
            .and_then(|s| s.value.last())
            .map(|v| Scalar::F64(*v)),
        Timeline::EventBool(s) => s
            .last()
            .filter(|s| s.time.end == t)
            .and_then(|s| s.value.last())
            .map(|v| Scalar::Bool(*v)),
        Timeline::EventStr(s) => s
            .last()
            .filter(|s| s.time.end == t)
            .and_then(|s| s.value.last())
            .map(|v| Scalar::Str(v.clone())),
        _ => None,
    }
}
