//! Walking several inputs' step output together, instant by instant, in time order.
//!
//! Multi-input operators (comparisons of two timelines, logic, arithmetic, `if`, `filter`)
//! need the same loop: at each instant where some input changes or has events, bring every
//! input's value up to date, then compute. [`Merge`] is that loop's cursor, starting from the
//! inputs' values before the step (read from their producers), so operators keep no copies.
//! Single-input operators iterate their input's items directly instead.

use crate::dag::Inputs;
use crate::kind::Kind;
use crate::time::Time;
use crate::val::Val;
use smallvec::SmallVec;

/// The events of one input at one instant, and the record each comes from.
pub type InstantEvents<'a> = (&'a [(Time, Val)], &'a [u32]);

#[derive(Clone, Copy, Debug)]
struct Cursor<'a> {
    items: &'a [(Time, Val)],
    /// Events: the record each item comes from (see [`crate::Buf::origins`]).
    origins: &'a [u32],
    pos: usize,
    events: bool,
}

impl Cursor<'_> {
    #[inline]
    fn instant(&self) -> Option<Time> {
        self.items.get(self.pos).map(|(t, _)| *t)
    }
}

/// A cursor over a node's inputs for one step, holding each continuous input's value.
#[derive(Clone, Debug)]
pub struct Merge<'a> {
    cursors: SmallVec<[Cursor<'a>; 4]>,
    /// Each input's value at the current instant (undefined for event inputs).
    pub cur: SmallVec<[Val; 4]>,
}

impl<'a> Merge<'a> {
    /// Starts at the beginning of every input's output for the step, with the inputs' values
    /// from before it.
    pub fn new(inputs: &Inputs<'a>) -> Self {
        let n = inputs.len();
        let mut cursors = SmallVec::with_capacity(n);
        let mut cur = SmallVec::with_capacity(n);
        for k in 0..n {
            let events = inputs.kind(k) == Kind::Event;
            cursors.push(Cursor {
                items: inputs.items(k),
                origins: inputs.origins(k),
                pos: 0,
                events,
            });
            cur.push(if events { Val::Undef } else { inputs.before(k) });
        }
        Self { cursors, cur }
    }

    /// The earliest instant at which any input still has something, if any.
    #[inline]
    pub fn next_instant(&self) -> Option<Time> {
        self.cursors.iter().filter_map(Cursor::instant).min()
    }

    /// If input `k` (a state or numeric timeline) changes at `t`, moves its value to the new
    /// one and returns true.
    #[inline]
    pub fn take_change(&mut self, k: usize, t: Time) -> bool {
        let c = &mut self.cursors[k];
        if c.events || c.instant() != Some(t) {
            return false;
        }
        self.cur[k] = c.items[c.pos].1;
        c.pos += 1;
        true
    }

    /// Moves every continuous input that changes at `t`. Returns whether any changed.
    #[inline]
    pub fn take_changes(&mut self, t: Time) -> bool {
        let mut any = false;
        for k in 0..self.cursors.len() {
            any |= self.take_change(k, t);
        }
        any
    }

    /// If input `k` (an event timeline) has events at `t`, returns them with the records they
    /// come from (one origin per event) and moves past them.
    #[inline]
    pub fn take_events(&mut self, k: usize, t: Time) -> Option<InstantEvents<'a>> {
        let c = &mut self.cursors[k];
        if !c.events || c.instant() != Some(t) {
            return None;
        }
        let start = c.pos;
        let n = c.items[start..].iter().take_while(|(s, _)| *s == t).count();
        c.pos += n;
        Some((&c.items[start..start + n], &c.origins[start..start + n]))
    }
}

/// Splits an event buffer's items into runs sharing an instant.
pub fn instants(items: &[(Time, Val)]) -> impl Iterator<Item = (Time, &[(Time, Val)])> {
    let mut rest = items;
    std::iter::from_fn(move || {
        let &(t, _) = rest.first()?;
        let n = rest.iter().take_while(|(s, _)| *s == t).count();
        let (run, tail) = rest.split_at(n);
        rest = tail;
        Some((t, run))
    })
}
