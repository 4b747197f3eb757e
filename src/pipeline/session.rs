//! One open session: where its events are in the input, and the events not yet stepped.

use super::Offset;
use smallvec::SmallVec;
use spanflow_engine::{Event, SessionParts, Time};
use spanflow_operators::evaluate_at::Row;
use spanflow_operators::program::Runner;

/// A session's bookkeeping between events (its DAG state is in the table's arena).
pub(super) struct OpenSession {
    first: Offset,
    last: Offset,
    /// Newest event time seen.
    newest: Time,
    /// Events waiting for their step, in time order (arrival order among equal times). With
    /// no lateness allowed, the newest event waits until a later time arrives: one inline.
    waiting: SmallVec<[Event; 1]>,
}

impl OpenSession {
    pub(super) fn new(first: Offset) -> Self {
        Self {
            first,
            last: first,
            newest: Time::MIN,
            waiting: SmallVec::new(),
        }
    }

    pub(super) fn first(&self) -> Offset {
        self.first
    }

    pub(super) fn last(&self) -> Offset {
        self.last
    }

    pub(super) fn newest(&self) -> Time {
        self.newest
    }

    /// Whether the clock has moved a whole gap past the session's newest event.
    pub(super) fn expired(&self, clock: Time, gap: Time) -> bool {
        self.newest.saturating_add(gap) <= clock
    }

    /// Records that the event at `offset` was routed to this session (late or not).
    pub(super) fn touch(&mut self, offset: Offset) {
        self.last = offset;
    }

    /// Queues an event that is not late.
    pub(super) fn add(&mut self, record: Event) {
        self.newest = self.newest.max(record.time);
        // Usually the newest event: appended. Otherwise after every event not later than it.
        if self.waiting.last().is_none_or(|r| r.time <= record.time) {
            self.waiting.push(record);
            return;
        }
        let at = self
            .waiting
            .iter()
            .rposition(|r| r.time <= record.time)
            .map_or(0, |i| i + 1);
        self.waiting.insert(at, record);
    }

    /// The events waiting for their step (to remap their strings).
    pub(super) fn waiting_mut(&mut self) -> &mut [Event] {
        &mut self.waiting
    }

    /// Runs one step per distinct time before `horizon`, handing the rows to `emit`.
    pub(super) fn release_before(
        &mut self,
        runner: &mut Runner<'_>,
        state: &mut SessionParts<'_>,
        sequenced: bool,
        horizon: Time,
        emit: &mut impl FnMut(&Row),
    ) {
        let mut done = 0;
        while let Some(t) = self.waiting.get(done).map(|r| r.time) {
            if t >= horizon {
                break;
            }
            let n = self.waiting[done..]
                .iter()
                .take_while(|r| r.time == t)
                .count();
            let batch = &mut self.waiting[done..done + n];
            if sequenced && n > 1 {
                batch.sort_by_key(|r| r.sequence);
            }
            // Steps only move forward: an event behind a step that ran is late and never
            // reaches `waiting` (steps run only for times more than the lateness behind the
            // newest event, and later events that far behind are late).
            let parts = SessionParts {
                header: &mut *state.header,
                words: &mut *state.words,
                queues: state.queues.as_deref_mut(),
            };
            let _ = runner.step_in(parts, t, batch, emit);
            done += n;
        }
        if done > 0 {
            self.waiting.drain(..done);
        }
    }
}
