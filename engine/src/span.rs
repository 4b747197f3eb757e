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

/// Appends a state span starting at `t` unless it would repeat the current value, closing the
/// previous span of this step at `t`. `last` is the node's current output value, kept across steps.
///
/// This is the single place where state outputs are coalesced, so "equal neighbours merge" holds
/// for every operator that emits through it.
#[inline]
pub fn push_state<V: Clone + PartialEq>(
    out: &mut OutputSpans<Option<V>>,
    last: &mut Option<V>,
    t: Time,
    value: Option<V>,
) -> bool {
    if *last == value {
        return false;
    }
    if let Some(prev) = out.last_mut() {
        if prev.time.start == t {
            // Two changes at one instant: only the later one is visible.
            prev.value = value.clone();
            *last = value;
            // The replaced span may now repeat the one before it.
            let n = out.len();
            if n >= 2 && out[n - 2].value == out[n - 1].value {
                out.pop();
                if let Some(p) = out.last_mut() {
                    p.time.end = crate::time::OPEN_END;
                }
            }
            return true;
        }
        prev.time.end = t;
    }
    out.push(Span::open(t, value.clone()));
    *last = value;
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_state_coalesces_and_closes() {
        let mut out: OutputSpans<Option<i32>> = OutputSpans::new();
        let mut last = None;
        assert!(push_state(&mut out, &mut last, 0, Some(1)));
        assert!(!push_state(&mut out, &mut last, 2, Some(1)));
        assert!(push_state(&mut out, &mut last, 5, Some(2)));
        assert_eq!(
            out.as_slice(),
            &[Span::new(0, 5, Some(1)), Span::open(5, Some(2))]
        );
        assert_eq!(last, Some(2));
    }

    #[test]
    fn push_state_keeps_the_later_of_two_changes_at_one_instant() {
        let mut out: OutputSpans<Option<i32>> = OutputSpans::new();
        let mut last = Some(1);
        push_state(&mut out, &mut last, 4, Some(2));
        push_state(&mut out, &mut last, 4, Some(3));
        assert_eq!(out.as_slice(), &[Span::open(4, Some(3))]);
        // A second change at t=4 back to the value of the span before it merges the two.
        let mut out: OutputSpans<Option<i32>> = OutputSpans::new();
        let mut last = Some(1);
        push_state(&mut out, &mut last, 3, Some(2));
        push_state(&mut out, &mut last, 4, Some(5));
        push_state(&mut out, &mut last, 4, Some(2));
        assert_eq!(out.as_slice(), &[Span::open(3, Some(2))]);
        assert_eq!(last, Some(2));
    }
}
