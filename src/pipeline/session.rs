//! One open session: its DAG state and the events not yet stepped.

use super::Offset;
use smallvec::SmallVec;
use spanflow_engine::{Record, Time};
use spanflow_operators::evaluate_at::Row;
use spanflow_operators::program::{Runner, SessionState};

/// A session's state between events.
pub(super) struct OpenSession {
    state: SessionState,
    first: Offset,
    last: Offset,
    /// Newest event time seen.
    newest: Time,
    /// Time of the last step run, if any.
    stepped: Option<Time>,
    /// Events waiting for their step, in time order (arrival order among equal times).
    waiting: SmallVec<[Record; 2]>,
}

impl OpenSession {
    pub(super) fn new(state: SessionState, first: Offset) -> Self {
        Self {
            state,
            first,
            last: first,
            newest: Time::MIN,
            stepped: None,
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

    pub(super) fn stepped(&self) -> Option<Time> {
        self.stepped
    }

    pub(super) fn state_mut(&mut self) -> &mut SessionState {
        &mut self.state
    }

    /// Whether the clock has moved a whole gap past the session's newest event.
    pub(super) fn expired(&self, clock: Time, gap: Time) -> bool {
        self.newest.saturating_add(gap) <= clock
    }

    /// Queues an event that is not late (its time is after the last step).
    pub(super) fn add(&mut self, offset: Offset, record: Record) {
        self.last = offset;
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
        mut emit: impl FnMut(&[Row]),
    ) {
        while let Some(t) = self.waiting.first().map(|r| r.time) {
            if t >= horizon {
                break;
            }
            let n = self.waiting.iter().take_while(|r| r.time == t).count();
            let batch = &mut self.waiting[..n];
            if sequenced {
                batch.sort_by_key(|r| r.sequence.unwrap_or(i64::MIN));
            }
            // Steps only move forward here (late events never reach `waiting`).
            if let Ok(rows) = runner.step(&mut self.state, t, batch) {
                emit(rows);
            }
            self.stepped = Some(t);
            self.waiting.drain(..n);
        }
    }
}
