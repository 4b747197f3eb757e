//! `Timeline`: what one node emits in one step, over every kind × value type.
//!
//! State and numeric variants hold the spans that *begin* in the step's interval
//! `(prev, now]`; the last one is open-ended and the first closes the node's previous span.
//! `None` values mark undefined stretches (before the first event, or a division by zero).
//! Event variants hold one span per instant with events, the events sitting at the span's end.
//! An empty buffer means "no change" (state) or "no events" (events) during the step.

use crate::kind::{Kind, TimelineType};
use crate::span::{EventsAtEnd, OutputSpans};
use crate::value::{Linear, Str, ValueType};

/// One step's output of a node. The variant is fixed by the node's type at plan time.
#[derive(Clone, Debug, PartialEq)]
pub enum Timeline {
    /// Input records arrived at `now`; the records themselves are in the step context.
    Records(usize),
    /// Number events.
    EventF64(OutputSpans<EventsAtEnd<f64>>),
    /// Boolean events.
    EventBool(OutputSpans<EventsAtEnd<bool>>),
    /// String events.
    EventStr(OutputSpans<EventsAtEnd<Str>>),
    /// Piecewise-constant number.
    StateF64(OutputSpans<Option<f64>>),
    /// Boolean state.
    StateBool(OutputSpans<Option<bool>>),
    /// String state.
    StateStr(OutputSpans<Option<Str>>),
    /// Piecewise-linear number: (value at span start, slope per second).
    Numeric(OutputSpans<Option<Linear>>),
}

impl Timeline {
    /// An empty buffer of the given type.
    pub fn empty(ty: TimelineType) -> Self {
        match (ty.kind, ty.value) {
            (Kind::Event, ValueType::Record) => Timeline::Records(0),
            (Kind::Event, ValueType::F64) => Timeline::EventF64(OutputSpans::new()),
            (Kind::Event, ValueType::Bool) => Timeline::EventBool(OutputSpans::new()),
            (Kind::Event, ValueType::Str) => Timeline::EventStr(OutputSpans::new()),
            (Kind::State, ValueType::F64) => Timeline::StateF64(OutputSpans::new()),
            (Kind::State, ValueType::Bool) => Timeline::StateBool(OutputSpans::new()),
            (Kind::State, ValueType::Str | ValueType::Record) => {
                Timeline::StateStr(OutputSpans::new())
            }
            (Kind::Numeric, _) => Timeline::Numeric(OutputSpans::new()),
        }
    }

    /// The buffer's type.
    pub fn ty(&self) -> TimelineType {
        match self {
            Timeline::Records(_) => TimelineType::RECORDS,
            Timeline::EventF64(_) => TimelineType::events(ValueType::F64),
            Timeline::EventBool(_) => TimelineType::events(ValueType::Bool),
            Timeline::EventStr(_) => TimelineType::events(ValueType::Str),
            Timeline::StateF64(_) => TimelineType::state(ValueType::F64),
            Timeline::StateBool(_) => TimelineType::state(ValueType::Bool),
            Timeline::StateStr(_) => TimelineType::state(ValueType::Str),
            Timeline::Numeric(_) => TimelineType::NUMERIC,
        }
    }

    /// Empties the buffer, keeping any heap capacity for the next step.
    pub fn clear(&mut self) {
        match self {
            Timeline::Records(n) => *n = 0,
            Timeline::EventF64(s) => s.clear(),
            Timeline::EventBool(s) => s.clear(),
            Timeline::EventStr(s) => s.clear(),
            Timeline::StateF64(s) => s.clear(),
            Timeline::StateBool(s) => s.clear(),
            Timeline::StateStr(s) => s.clear(),
            Timeline::Numeric(s) => s.clear(),
        }
    }

    /// Whether nothing was emitted this step.
    pub fn is_empty(&self) -> bool {
        match self {
            Timeline::Records(n) => *n == 0,
            Timeline::EventF64(s) => s.is_empty(),
            Timeline::EventBool(s) => s.is_empty(),
            Timeline::EventStr(s) => s.is_empty(),
            Timeline::StateF64(s) => s.is_empty(),
            Timeline::StateBool(s) => s.is_empty(),
            Timeline::StateStr(s) => s.is_empty(),
            Timeline::Numeric(s) => s.is_empty(),
        }
    }

    /// Number of items emitted this step: records, events, or state (and numeric) changes.
    pub fn item_count(&self) -> usize {
        fn events<V>(s: &OutputSpans<EventsAtEnd<V>>) -> usize {
            s.iter().map(|span| span.value.len()).sum()
        }
        match self {
            Timeline::Records(n) => *n,
            Timeline::EventF64(s) => events(s),
            Timeline::EventBool(s) => events(s),
            Timeline::EventStr(s) => events(s),
            Timeline::StateF64(s) => s.len(),
            Timeline::StateBool(s) => s.len(),
            Timeline::StateStr(s) => s.len(),
            Timeline::Numeric(s) => s.len(),
        }
    }

    /// Number of spans emitted this step (records count as one span).
    pub fn span_count(&self) -> usize {
        match self {
            Timeline::Records(n) => usize::from(*n > 0),
            Timeline::EventF64(s) => s.len(),
            Timeline::EventBool(s) => s.len(),
            Timeline::EventStr(s) => s.len(),
            Timeline::StateF64(s) => s.len(),
            Timeline::StateBool(s) => s.len(),
            Timeline::StateStr(s) => s.len(),
            Timeline::Numeric(s) => s.len(),
        }
    }
}

use crate::span::Span;
use crate::time::Time;
use crate::value::{Current, ScalarRef};

impl Timeline {
    /// Emits a state (or numeric) change to `value` at `t`, unless it continues `last`, and
    /// keeps `last` up to date. This is the one place where state outputs coalesce, so "equal
    /// neighbours merge" holds for every operator.
    ///
    /// Operators push at most once per instant, in time order: they compute an instant's final
    /// value first (several input changes at one instant are one change). Pushing twice at one
    /// instant would need the value from before the step to coalesce correctly, which the
    /// buffer does not keep.
    ///
    /// # Panics
    /// On an event buffer, or a value of the wrong type: both are type-check bugs. In debug
    /// builds, also on a push at or before the previous push of this step.
    pub fn push_state(&mut self, last: &mut Current, t: Time, value: Current) {
        if last.continues_as(t, &value) {
            return;
        }
        fn put<V: Clone + PartialEq>(spans: &mut OutputSpans<Option<V>>, t: Time, v: Option<V>) {
            match spans.last_mut() {
                Some(prev) => {
                    debug_assert!(
                        prev.time.start < t,
                        "internal error: state pushed at {t} after a push at {}",
                        prev.time.start
                    );
                    prev.time.end = t;
                    spans.push(Span::open(t, v));
                }
                None => spans.push(Span::open(t, v)),
            }
        }
        match (&mut *self, &value) {
            (Timeline::StateBool(s), Current::Bool(v)) => put(s, t, Some(*v)),
            (Timeline::StateBool(s), Current::Undefined) => put(s, t, None),
            (Timeline::StateF64(s), Current::F64(v)) => put(s, t, Some(*v)),
            (Timeline::StateF64(s), Current::Undefined) => put(s, t, None),
            (Timeline::StateStr(s), Current::Str(v)) => put(s, t, Some(v.clone())),
            (Timeline::StateStr(s), Current::Undefined) => put(s, t, None),
            (Timeline::Numeric(s), Current::Linear { line, .. }) => put(s, t, Some(*line)),
            (Timeline::Numeric(s), Current::F64(v)) => put(s, t, Some(Linear::constant(*v))),
            (Timeline::Numeric(s), Current::Undefined) => put(s, t, None),
            (tl, v) => panic!(
                "internal error: cannot emit {v:?} on a {} timeline",
                tl.ty()
            ),
        }
        *last = match value {
            Current::F64(v) if matches!(self, Timeline::Numeric(_)) => Current::Linear {
                start: t,
                line: Linear::constant(v),
            },
            Current::Linear { line, .. } => Current::Linear { start: t, line },
            v => v,
        };
    }

    /// Emits one event with `value` at `t`; `from` is where a new event span starts (the
    /// step's previous instant), used only when `t` has no span yet.
    ///
    /// # Panics
    /// On a state buffer, or a value of the wrong type: both are type-check bugs.
    pub fn push_event(&mut self, from: Time, t: Time, value: ScalarRef<'_>) {
        fn put<V>(spans: &mut OutputSpans<EventsAtEnd<V>>, from: Time, t: Time, v: V) {
            match spans.last_mut() {
                Some(s) if s.time.end == t => s.value.0.push(v),
                Some(s) => {
                    let start = s.time.end;
                    spans.push(Span::new(start, t, EventsAtEnd::one(v)));
                }
                None => spans.push(Span::new(from.min(t), t, EventsAtEnd::one(v))),
            }
        }
        match (self, value) {
            (Timeline::EventF64(s), ScalarRef::F64(v)) => put(s, from, t, v),
            (Timeline::EventBool(s), ScalarRef::Bool(v)) => put(s, from, t, v),
            (Timeline::EventStr(s), ScalarRef::Str(v)) => put(s, from, t, Str::from(v)),
            (tl, v) => panic!(
                "internal error: cannot emit event {v:?} on a {} timeline",
                tl.ty()
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_pieces_on_one_line_coalesce() {
        let mut out = Timeline::empty(TimelineType::NUMERIC);
        let mut last = Current::Undefined;
        out.push_state(
            &mut last,
            0,
            Current::Linear {
                start: 0,
                line: Linear {
                    at_start: 0.0,
                    per_sec: 1.0,
                },
            },
        );
        // Same line seen from t=2000: no new span.
        out.push_state(
            &mut last,
            2000,
            Current::Linear {
                start: 2000,
                line: Linear {
                    at_start: 2.0,
                    per_sec: 1.0,
                },
            },
        );
        out.push_state(
            &mut last,
            3000,
            Current::Linear {
                start: 3000,
                line: Linear::constant(3.0),
            },
        );
        let Timeline::Numeric(s) = &out else {
            unreachable!()
        };
        assert_eq!(
            s.as_slice(),
            &[
                Span::new(
                    0,
                    3000,
                    Some(Linear {
                        at_start: 0.0,
                        per_sec: 1.0
                    })
                ),
                Span::open(3000, Some(Linear::constant(3.0)))
            ]
        );
    }

    #[test]
    fn events_at_one_instant_share_a_span() {
        let mut out = Timeline::empty(TimelineType::events(ValueType::Str));
        out.push_event(1000, 1100, ScalarRef::Str("start"));
        out.push_event(1000, 1100, ScalarRef::Str("click"));
        out.push_event(1000, 1300, ScalarRef::Str("ad_load"));
        let Timeline::EventStr(s) = &out else {
            unreachable!()
        };
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].time, crate::time::TimeInterval::new(1000, 1100));
        assert_eq!(s[0].value.len(), 2);
        assert_eq!(s[1].time, crate::time::TimeInterval::new(1100, 1300));
    }
}
