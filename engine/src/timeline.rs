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
            (Kind::State, ValueType::Str | ValueType::Record) => Timeline::StateStr(OutputSpans::new()),
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
