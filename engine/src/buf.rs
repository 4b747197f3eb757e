//! `Buf`: what one node emits in one step.
//!
//! A state (or numeric) node emits its changes in the step's interval `(prev, now]`, strictly
//! increasing in time, each value holding until the next change, with the value it had before
//! the step's first change in `before` (so consumers need not keep copies of their inputs'
//! values). An event node emits its events in time order, several per instant allowed. An
//! empty buffer means "no change" (state) or "no events" (events) during the step.

use crate::time::Time;
use crate::val::Val;
use smallvec::SmallVec;

/// The origin of an event that does not come from one record of the step (a state change, an
/// operator's own event).
pub const NO_ORIGIN: u32 = u32::MAX;

/// One node's output of one step. Buffers belong to the interpreter and are reused by every
/// session, so their size is not per-session memory.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Buf {
    /// State: the value before the step's first change (meaningful only when not empty).
    pub before: Val,
    /// State: `(start, value)` changes; events: `(instant, value)`.
    pub items: SmallVec<[(Time, Val); 2]>,
    /// Events: for each item, the index in the step's batch of the record it comes from, or
    /// [`NO_ORIGIN`]. Several events at one instant are told apart by it: `filter` pairs each
    /// event with the condition event of the same record.
    pub origins: SmallVec<[u32; 2]>,
    /// Whether this is a numeric timeline (numbers pushed become flat pieces).
    numeric: bool,
}

impl Buf {
    /// An empty buffer; `numeric` for numeric timelines.
    pub fn new(numeric: bool) -> Self {
        Self {
            before: Val::Undef,
            items: SmallVec::new(),
            origins: SmallVec::new(),
            numeric,
        }
    }

    /// Empties the buffer, keeping any heap capacity for the next step.
    #[inline]
    pub fn clear(&mut self) {
        self.items.clear();
        self.origins.clear();
    }

    /// Whether nothing was emitted this step.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Whether this is a numeric timeline's buffer.
    #[inline]
    pub fn is_numeric(&self) -> bool {
        self.numeric
    }

    /// Number of items: events, or state changes.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Emits a state (or numeric) change to `value` at `t`, unless it continues `last`, and
    /// keeps `last` up to date. This is the one place where state outputs coalesce, so "equal
    /// neighbours merge" holds for every operator.
    ///
    /// Operators push at most once per instant, in time order: they compute an instant's final
    /// value first (several input changes at one instant are one change).
    #[inline]
    pub fn push_state(&mut self, last: &mut Val, t: Time, value: Val) {
        let value = match value {
            Val::F64(v) if self.numeric => Val::Lin {
                start: t,
                line: crate::value::Linear::constant(v),
            },
            Val::Lin { line, .. } => Val::Lin { start: t, line },
            v => v,
        };
        if last.continues_as(t, &value) {
            return;
        }
        match self.items.last() {
            Some(&(prev, _)) => debug_assert!(
                prev < t,
                "internal error: state pushed at {t} after a push at {prev}"
            ),
            None => self.before = *last,
        }
        self.items.push((t, value));
        *last = value;
    }

    /// Emits one event with `value` at `t` that does not come from one record of the step.
    #[inline]
    pub fn push_event(&mut self, t: Time, value: Val) {
        self.push_event_from(t, value, NO_ORIGIN);
    }

    /// Emits one event with `value` at `t` from the step's record number `origin` (or
    /// [`NO_ORIGIN`]).
    #[inline]
    pub fn push_event_from(&mut self, t: Time, value: Val, origin: u32) {
        debug_assert!(
            self.items.last().is_none_or(|&(p, _)| p <= t),
            "internal error: event at {t} pushed after a later one"
        );
        self.items.push((t, value));
        self.origins.push(origin);
    }

    /// The value at `t` of a state buffer whose node's value before the step was known to be
    /// `before` when the buffer is empty: the last change at or before `t`.
    pub fn value_at(&self, t: Time, current: Val) -> Val {
        if self.items.is_empty() {
            return current.at(t);
        }
        match self.items.iter().rev().find(|(s, _)| *s <= t) {
            Some((_, v)) => v.at(t),
            None => self.before.at(t),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::Linear;

    #[test]
    fn numeric_pieces_on_one_line_coalesce() {
        let mut out = Buf::new(true);
        let mut last = Val::Undef;
        let line = |at_start, per_sec| Linear { at_start, per_sec };
        out.push_state(
            &mut last,
            0,
            Val::Lin {
                start: 0,
                line: line(0.0, 1.0),
            },
        );
        // Same line seen from t=2000: no new change.
        out.push_state(
            &mut last,
            2000,
            Val::Lin {
                start: 2000,
                line: line(2.0, 1.0),
            },
        );
        out.push_state(&mut last, 3000, Val::F64(3.0));
        assert_eq!(
            out.items.as_slice(),
            &[
                (
                    0,
                    Val::Lin {
                        start: 0,
                        line: line(0.0, 1.0)
                    }
                ),
                (
                    3000,
                    Val::Lin {
                        start: 3000,
                        line: Linear::constant(3.0)
                    }
                )
            ]
        );
        assert_eq!(out.before, Val::Undef);
    }

    #[test]
    fn the_value_before_the_step_is_kept() {
        let mut out = Buf::new(false);
        let mut last = Val::Bool(true);
        out.push_state(&mut last, 5, Val::Bool(true));
        assert!(out.is_empty());
        out.push_state(&mut last, 6, Val::Bool(false));
        assert_eq!(out.before, Val::Bool(true));
        assert_eq!(out.value_at(5, last), Val::Bool(true));
        assert_eq!(out.value_at(6, last), Val::Bool(false));
    }
}
