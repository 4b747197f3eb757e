//! Spans: a value over a half-open interval of event time.

use crate::time::{Time, TimeInterval};

/// A value over `[time.start, time.end)`.
#[derive(Clone, Debug, PartialEq)]
pub struct Span<V> {
    /// The interval the value covers.
    pub time: TimeInterval,
    /// The value.
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
