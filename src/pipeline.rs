//! Groups decoded events into per-session timelines and drives the program over them.
//!
//! Events of one session must arrive in event-time order; events sharing a time are batched into
//! one step (ordered by the sequence field when the spec has one). An event older than its
//! session's last time is late and follows the spec's `on_late_event` policy.

use smallvec::SmallVec;
use spanflow_engine::{Record, Str, Time};
use spanflow_operators::evaluate_at::Row;
use spanflow_operators::program::{Runner, SessionState};
use spanflow_operators::spec::LateEventPolicy;
use spanflow_operators::Program;
use std::collections::HashMap;
use thiserror::Error;

/// Counters of what the processor did, for logs, metrics and tests.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Events accepted.
    pub events: u64,
    /// Late events dropped.
    pub late_dropped: u64,
    /// Sessions opened.
    pub sessions: u64,
    /// Rows produced.
    pub rows: u64,
}

/// An event the spec's policy says must stop the run.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum PipelineError {
    /// An event older than its session's latest time, with `on_late_event: fail`.
    #[error("session `{session}`: event at {time} ms arrived after an event at {latest} ms (input.on_late_event is `fail`; set it to `drop` to skip late events)")]
    LateEvent {
        /// The session key.
        session: String,
        /// The late event's time.
        time: Time,
        /// The session's latest time.
        latest: Time,
    },
}

struct OpenSession {
    state: SessionState,
    pending_time: Option<Time>,
    pending: SmallVec<[Record; 2]>,
}

/// Runs a program over a stream of `(session key, record)` pairs.
pub struct SessionProcessor<'p> {
    runner: Runner<'p>,
    sessions: HashMap<Str, OpenSession>,
    stats: Stats,
    sequenced: bool,
}

impl<'p> SessionProcessor<'p> {
    /// A processor for `program`.
    pub fn new(program: &'p Program) -> Self {
        Self {
            runner: Runner::new(program),
            sessions: HashMap::new(),
            stats: Stats::default(),
            sequenced: program.input.sequence.is_some(),
        }
    }

    /// What happened so far.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Number of sessions currently open.
    pub fn open_sessions(&self) -> usize {
        self.sessions.len()
    }

    /// Adds one event; rows completed by it go to `sink` with their session key.
    pub fn push(
        &mut self,
        key: &str,
        record: Record,
        sink: &mut dyn FnMut(&str, &Row),
    ) -> Result<(), PipelineError> {
        let session = match self.sessions.get_mut(key) {
            Some(s) => s,
            None => {
                self.stats.sessions += 1;
                let state = self.runner.open_session();
                self.sessions.entry(Str::from(key)).or_insert(OpenSession {
                    state,
                    pending_time: None,
                    pending: SmallVec::new(),
                })
            }
        };
        match session.pending_time {
            Some(t) if record.time == t => session.pending.push(record),
            Some(t) if record.time < t => {
                return match self.runner.program().input.on_late_event {
                    LateEventPolicy::Drop => {
                        self.stats.late_dropped += 1;
                        Ok(())
                    }
                    LateEventPolicy::Fail => Err(PipelineError::LateEvent {
                        session: key.to_string(),
                        time: record.time,
                        latest: t,
                    }),
                };
            }
            _ => {
                Self::flush(
                    &mut self.runner,
                    &mut self.stats,
                    self.sequenced,
                    key,
                    session,
                    sink,
                );
                session.pending_time = Some(record.time);
                session.pending.push(record);
            }
        }
        self.stats.events += 1;
        Ok(())
    }

    /// Ends one session: runs its pending step and its session-end evaluation.
    pub fn end_session(&mut self, key: &str, sink: &mut dyn FnMut(&str, &Row)) {
        if let Some(mut s) = self.sessions.remove(key) {
            Self::flush(
                &mut self.runner,
                &mut self.stats,
                self.sequenced,
                key,
                &mut s,
                sink,
            );
            let rows = self.runner.end(&mut s.state);
            self.stats.rows += rows.len() as u64;
            rows.iter().for_each(|r| sink(key, r));
        }
    }

    /// Ends every open session, in key order so output is deterministic.
    pub fn finish(&mut self, sink: &mut dyn FnMut(&str, &Row)) {
        let mut keys: Vec<Str> = self.sessions.keys().cloned().collect();
        keys.sort_unstable();
        for k in keys {
            self.end_session(&k, sink);
        }
    }

    fn flush(
        runner: &mut Runner<'p>,
        stats: &mut Stats,
        sequenced: bool,
        key: &str,
        s: &mut OpenSession,
        sink: &mut dyn FnMut(&str, &Row),
    ) {
        let Some(t) = s.pending_time else { return };
        if s.pending.is_empty() {
            return;
        }
        if sequenced {
            s.pending.sort_by_key(|r| r.sequence.unwrap_or(i64::MIN));
        }
        // Times only grow here (late events were filtered), so the step cannot fail.
        if let Ok(rows) = runner.step(&mut s.state, t, &s.pending) {
            stats.rows += rows.len() as u64;
            rows.iter().for_each(|r| sink(key, r));
        }
        s.pending.clear();
    }
}
