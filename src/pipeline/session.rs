//! One open session: its DAG state and the events not yet stepped.

use super::Offset;
use smallvec::SmallVec;
use spanflow_engine::{Event, Time};
use spanflow_operators::evaluate_at::Row;
use spanflow_operators::program::{Runner, SessionState};

/// A session's state between events.
pub(super) struct OpenSession {
    state: SessionState,
    first: Offset,
    last: Offset,
    /// Newest event time seen.
    newest: Time,
    /// Events waiting for their step, in time order (arrival order among equal times).
    waiting: SmallVec<[Event; 1]>,
}

impl OpenSession {
    pub(super) fn new(state: SessionState, first: Offset) -> Self {
        Self {
            state,
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

    pub(super) fn state_mut(&mut self) -> &mut SessionState {
        &mut self.state
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
        let at = self
            .waiting
            .iter()
            .rposition(|r| r.time <= record.time)
            .map_or(0, |i| i + 1);
        self.waiting.insert(at, record);
    }

    /// Runs one step per distinct time before `horizon`, handing each step's rows to `emit`.
    pub(super) fn release_before(
        &mut self,
        runner: &mut Runner<'_>,
        sequenced: bool,
        horizon: Time,
        emit: &mut impl FnMut(&Row),
    ) {
        while let Some(t) = self.waiting.first().map(|r| r.time) {
            if t >= horizon {
                break;
            }
            let n = self.waiting.iter().take_while(|r| r.time == t).count();
            let batch = &mut self.waiting[..n];
            if sequenced {
                batch.sort_by_key(|r| r.sequence);
            }
            // Steps only move forward: an event behind a step that ran is late and never
            // reaches `waiting` (steps run only for times more than the lateness behind the
            // newest event, and later events that far behind are late).
            let _ = runner.step(&mut self.state, t, batch, emit);
            self.waiting.drain(..n);
        }
    }
}
