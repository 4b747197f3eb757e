//! Walking several inputs' step output together, instant by instant, in time order.
//!
//! Pointwise operators (comparisons, logic, arithmetic, `if`, `filter`) all need the same loop:
//! at each instant where some input changes or has events, bring every input's current value up
//! to date, then compute. [`Merge`] is that loop's cursor, so each operator only writes the
//! computation.

use crate::span::EventsAtEnd;
use crate::time::Time;
use crate::timeline::Timeline;
use crate::value::{Current, ScalarRef, Str};
use smallvec::SmallVec;

/// Borrowed events of any value type at one instant.
#[derive(Clone, Copy, Debug)]
pub enum EventsRef<'a> {
    /// Number events.
    F64(&'a EventsAtEnd<f64>),
    /// Boolean events.
    Bool(&'a EventsAtEnd<bool>),
    /// String events.
    Str(&'a EventsAtEnd<Str>),
}

impl<'a> EventsRef<'a> {
    /// The events as scalars, in arrival order.
    pub fn iter(self) -> impl Iterator<Item = ScalarRef<'a>> {
        let (f, b, s) = match self {
            EventsRef::F64(e) => (Some(e.iter()), None, None),
            EventsRef::Bool(e) => (None, Some(e.iter()), None),
            EventsRef::Str(e) => (None, None, Some(e.iter())),
        };
        f.into_iter()
            .flatten()
            .map(|v| ScalarRef::F64(*v))
            .chain(b.into_iter().flatten().map(|v| ScalarRef::Bool(*v)))
            .chain(s.into_iter().flatten().map(|v| ScalarRef::Str(v)))
    }

    /// The last event at this instant.
    pub fn last(self) -> Option<ScalarRef<'a>> {
        match self {
            EventsRef::F64(e) => e.last().map(|v| ScalarRef::F64(*v)),
            EventsRef::Bool(e) => e.last().map(|v| ScalarRef::Bool(*v)),
            EventsRef::Str(e) => e.last().map(|v| ScalarRef::Str(v)),
        }
    }

    /// Number of events.
    pub fn len(self) -> usize {
        match self {
            EventsRef::F64(e) => e.len(),
            EventsRef::Bool(e) => e.len(),
            EventsRef::Str(e) => e.len(),
        }
    }

    /// Whether there are none.
    pub fn is_empty(self) -> bool {
        self.len() == 0
    }
}

/// The instant of an input's `pos`-th span: its start for state, its end for events.
fn instant(tl: &Timeline, pos: usize, now: Time) -> Option<Time> {
    match tl {
        Timeline::Records(n) => (pos == 0 && *n > 0).then_some(now),
        Timeline::EventF64(s) => s.get(pos).map(|s| s.time.end),
        Timeline::EventBool(s) => s.get(pos).map(|s| s.time.end),
        Timeline::EventStr(s) => s.get(pos).map(|s| s.time.end),
        Timeline::StateF64(s) => s.get(pos).map(|s| s.time.start),
        Timeline::StateBool(s) => s.get(pos).map(|s| s.time.start),
        Timeline::StateStr(s) => s.get(pos).map(|s| s.time.start),
        Timeline::Numeric(s) => s.get(pos).map(|s| s.time.start),
    }
}

/// A cursor over several inputs' output for one step.
#[derive(Debug)]
pub struct Merge<'a> {
    inputs: SmallVec<[(&'a Timeline, usize); 4]>,
    now: Time,
}

impl<'a> Merge<'a> {
    /// Starts at the beginning of every input's output for the step ending at `now`.
    pub fn new(inputs: &[&'a Timeline], now: Time) -> Self {
        Self {
            inputs: inputs.iter().map(|t| (*t, 0)).collect(),
            now,
        }
    }

    /// The earliest instant at which any input still has something, if any.
    pub fn next_instant(&self) -> Option<Time> {
        self.inputs
            .iter()
            .filter_map(|(tl, pos)| instant(tl, *pos, self.now))
            .min()
    }

    /// If input `i` (a state or numeric timeline) changes at `t`, moves `cur` to its new value
    /// and returns true.
    pub fn take_change(&mut self, i: usize, t: Time, cur: &mut Current) -> bool {
        let (tl, pos) = &mut self.inputs[i];
        if instant(tl, *pos, self.now) != Some(t) {
            return false;
        }
        *cur = match tl {
            Timeline::StateF64(s) => s[*pos].value.map_or(Current::Undefined, Current::F64),
            Timeline::StateBool(s) => s[*pos].value.map_or(Current::Undefined, Current::Bool),
            Timeline::StateStr(s) => s[*pos]
                .value
                .as_ref()
                .map_or(Current::Undefined, |v| Current::Str(v.clone())),
            Timeline::Numeric(s) => {
                s[*pos]
                    .value
                    .map_or(Current::Undefined, |line| Current::Linear {
                        start: t,
                        line,
                    })
            }
            _ => return false,
        };
        *pos += 1;
        true
    }

    /// If input `i` (an event timeline) has events at `t`, returns them and moves past them.
    pub fn take_events(&mut self, i: usize, t: Time) -> Option<EventsRef<'a>> {
        let (tl, pos) = &mut self.inputs[i];
        if instant(tl, *pos, self.now) != Some(t) {
            return None;
        }
        let tl: &'a Timeline = tl;
        let events = match tl {
            Timeline::EventF64(s) => EventsRef::F64(&s[*pos].value),
            Timeline::EventBool(s) => EventsRef::Bool(&s[*pos].value),
            Timeline::EventStr(s) => EventsRef::Str(&s[*pos].value),
            _ => return None,
        };
        *pos += 1;
        Some(events)
    }

    /// If input `i` is the record stream and records arrived at `t`, returns how many.
    pub fn take_records(&mut self, i: usize, t: Time) -> Option<usize> {
        let (tl, pos) = &mut self.inputs[i];
        match tl {
            Timeline::Records(n) if *pos == 0 && *n > 0 && t == self.now => {
                *pos = 1;
                Some(*n)
            }
            _ => None,
        }
    }

    /// Moves every state input that changes at `t`, storing values in `currents` (one per input;
    /// event inputs, and currents beyond the inputs, are left alone). Returns whether any changed.
    pub fn take_changes(&mut self, t: Time, currents: &mut [Current]) -> bool {
        let mut any = false;
        let n = self.inputs.len();
        for (i, cur) in currents.iter_mut().enumerate().take(n) {
            any |= self.take_change(i, t, cur);
        }
        any
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kind::TimelineType;
    use crate::value::ValueType;

    #[test]
    fn visits_instants_of_all_inputs_in_order() {
        let mut a = Timeline::empty(TimelineType::BOOL_STATE);
        let mut la = Current::Undefined;
        a.push_state(&mut la, 3, Current::Bool(true));
        a.push_state(&mut la, 7, Current::Bool(false));
        let mut b = Timeline::empty(TimelineType::events(ValueType::F64));
        b.push_event(0, 5, ScalarRef::F64(1.0));
        b.push_event(0, 7, ScalarRef::F64(2.0));
        let inputs = [&a, &b];
        let mut m = Merge::new(&inputs, 7);
        let mut cur = [Current::Undefined, Current::Undefined];
        let mut seen = Vec::new();
        while let Some(t) = m.next_instant() {
            m.take_changes(t, &mut cur);
            let ev: Vec<_> = m
                .take_events(1, t)
                .map(|e| e.iter().map(|v| v.to_owned()).collect())
                .unwrap_or_default();
            seen.push((t, cur[0].clone(), ev));
        }
        use crate::value::Scalar::F64;
        assert_eq!(
            seen,
            vec![
                (3, Current::Bool(true), vec![]),
                (5, Current::Bool(true), vec![F64(1.0)]),
                (7, Current::Bool(false), vec![F64(2.0)]),
            ]
        );
    }
}
