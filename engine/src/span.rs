//! Spans: a value over a half-open interval of event time.

use crate::time::{Time, TimeInterval};
use smallvec::SmallVec;

/// A value over `[time.start, time.end)`.
#[derive(Clone, Debug, PartialEq)]
pub struct Span<V> {
    /// The interval the value covers.
    pub time: TimeInterval,
    /// The value (or, for event timelines, the events at the span's end).
    pub value: V,
}

impl<V> Span<V> {
    /// A span over `[start, end)`.
    pub fn new(start: Time, end: Time, value: V) -> Self {
        Self {
            time: TimeInterval::new(start, end),
            value,
        }
    }

    /// An open-ended span `[start, ∞)`.
    pub fn open(start: Time, value: V) -> Self {
        Self {
            time: TimeInterval::open(start),
            value,
        }
    }
}

/// What one node emits in one step: on the stack while there are at most two spans.
pub type OutputSpans<V> = SmallVec<[Span<V>; 2]>;

/// The events that happen at the end of an event span: usually one, on the stack.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct EventsAtEnd<V>(pub SmallVec<[V; 1]>);

impl<V> EventsAtEnd<V> {
    /// One event.
    pub fn one(v: V) -> Self {
        Self(smallvec::smallvec![v])
    }

    /// The events, in arrival order.
    pub fn iter(&self) -> std::slice::Iter<'_, V> {
        self.0.iter()
    }

    /// The last event (the one a state keeps when several share an instant).
    pub fn last(&self) -> Option<&V> {
        self.0.last()
    }

    /// Number of events.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no events.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}
