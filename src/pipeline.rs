//! Groups decoded events into per-session timelines and drives the program over them.
//!
//! One processor serves one ordered input: a file, or one Kafka partition. Every event carries
//! its position in that input (its offset), which the processor reports back when a session
//! opens and closes so a streaming source can tell how far it may commit (see
//! [`crate::delivery`]).
//!
//! - **Order.** A session's events are stepped in event-time order. An event may trail the
//!   session's newest event by up to the spec's `lateness_secs` and is put in its place; events
//!   sharing a time form one step (ordered by the sequence field when the spec has one). An
//!   event further behind is late and follows `on_late_event`.
//! - **Session end.** With a session gap, the input's event-time clock (its watermark: the
//!   newest event time seen) ends a session once it passes the session's newest event by the
//!   gap; the key's next event then starts a new session. An event a whole gap behind the clock
//!   is late too: it could only belong to a session that has ended. So every event of a
//!   session is newer than all of the key's earlier sessions, and rows, keyed by session key
//!   and evaluation time, never collide. Which session an event joins depends only on the
//!   events before it, so a replay from a session's first event rebuilds the same sessions.
//! - **Replay.** Sessions known to be complete (all their outputs acknowledged) can be marked to
//!   be skipped when a restarted source reads their events again.

mod session;
mod table;

use session::OpenSession;
use smallvec::SmallVec;
use spanflow_engine::{Record, Str, Time};
use spanflow_operators::evaluate_at::Row;
use spanflow_operators::program::Runner;
use spanflow_operators::spec::LateEventPolicy;
use spanflow_operators::Program;
use std::borrow::Borrow;
use std::collections::HashMap;
use table::{Sessions, Slot};

/// A position in the input: a Kafka offset, or a record's index in a file.
pub type Offset = i64;

/// Counters of what the processor did, for logs, metrics and tests.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Events accepted.
    pub events: u64,
    /// Late events dropped.
    pub late_dropped: u64,
    /// Late events handed to [`Emit::late`] (`on_late_event: dead_letter`).
    pub late_dead_lettered: u64,
    /// Sessions opened.
    pub sessions: u64,
    /// Sessions ended (by their idle gap or at the end of the input).
    pub sessions_closed: u64,
    /// Events skipped because they belong to a session completed before a restart.
    pub replay_skipped: u64,
    /// Rows produced.
    pub rows: u64,
    /// Times the string dictionary was compacted, and the strings it dropped.
    pub string_compactions: u64,
    /// Strings dropped by those compactions.
    pub strings_dropped: u64,
}

/// A late event: what a `fail` policy stops with, and what a `dead_letter` one reports.
#[derive(Clone, Debug, PartialEq)]
pub enum PipelineError {
    /// An event further behind its session's newest event than the lateness allows.
    LateEvent {
        /// The session key.
        session: String,
        /// The late event's time.
        time: Time,
        /// The session's newest event time.
        newest: Time,
        /// The allowed lateness in seconds.
        lateness_secs: f64,
    },
    /// An event a whole session gap behind the input's clock.
    AfterSessionEnd {
        /// The session key.
        session: String,
        /// The event's time.
        time: Time,
        /// The input's watermark.
        watermark: Time,
        /// The session gap in seconds.
        gap_secs: f64,
    },
}

impl PipelineError {
    /// A short label for metrics and dead-letter headers.
    pub fn reason(&self) -> &'static str {
        match self {
            PipelineError::LateEvent { .. } => "late_event",
            PipelineError::AfterSessionEnd { .. } => "late_after_session_end",
        }
    }

    /// What is wrong, without the policy advice of the `fail` message (`Display`).
    pub fn what(&self) -> String {
        match self {
            PipelineError::LateEvent {
                session,
                time,
                newest,
                lateness_secs,
            } => format!(
                "session `{session}`: event at {time} ms is more than input.lateness_secs \
                 ({lateness_secs} s) behind the session's newest event at {newest} ms"
            ),
            PipelineError::AfterSessionEnd {
                session,
                time,
                watermark,
                gap_secs,
            } => format!(
                "session `{session}`: event at {time} ms is more than input.session_gap_secs \
                 ({gap_secs} s) behind the input's newest event at {watermark} ms, so its \
                 session has ended"
            ),
        }
    }
}

impl std::fmt::Display for PipelineError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.what())?;
        match self {
            PipelineError::LateEvent { .. } => f.write_str(
                " (input.on_late_event is `fail`; set it to `drop` to skip late events or \
                 `dead_letter` to set them aside, or raise input.lateness_secs to reorder them)",
            ),
            PipelineError::AfterSessionEnd { .. } => f.write_str(
                " (input.on_late_event is `fail`; set it to `drop` to skip late events or \
                 `dead_letter` to set them aside)",
            ),
        }
    }
}

impl std::error::Error for PipelineError {}

/// A session as reported to an [`Emit`]: its key and the offsets of its first and (so far)
/// last events. The first offset identifies the session within its input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionRef<'a> {
    /// The session key.
    pub key: &'a str,
    /// Offset of its first event.
    pub first: Offset,
    /// Offset of its newest event.
    pub last: Offset,
}

/// Receives what the processor produces.
pub trait Emit {
    /// A session opened with the event at `first`; `watermark_before` is the input's watermark
    /// just before that event (what a replay starting there must begin with).
    fn opened(&mut self, first: Offset, watermark_before: Option<Time>) {
        let _ = (first, watermark_before);
    }
    /// A row of `session`.
    fn row(&mut self, session: SessionRef<'_>, row: &Row);
    /// `session` ended; its rows were all emitted before this call.
    fn closed(&mut self, session: SessionRef<'_>) {
        let _ = session;
    }
    /// With `on_late_event: dead_letter`: the event at `offset` is late, for `why`. `session`
    /// is the session it joined (it belongs to it for replays, so the session's completion
    /// must wait until the event is set aside), or `None` when it came after its session
    /// ended.
    fn late(&mut self, offset: Offset, session: Option<SessionRef<'_>>, why: &PipelineError) {
        let _ = (offset, session, why);
    }
}

impl<F: FnMut(&str, &Row)> Emit for F {
    fn row(&mut self, session: SessionRef<'_>, row: &Row) {
        self(session.key, row)
    }
}

/// Runs a program over one ordered stream of `(offset, session key, record)`.
pub struct SessionProcessor<'p> {
    runner: Runner<'p>,
    sessions: Sessions,
    stats: Stats,
    sequenced: bool,
    lateness: Time,
    gap: Option<Time>,
    late_policy: LateEventPolicy,
    watermark: Option<Time>,
    /// The watermark at which the next sweep for idle sessions runs.
    next_sweep: Time,
    /// Completed sessions to skip on replay: key → offset ranges.
    skip: HashMap<Str, SmallVec<[(Offset, Offset); 1]>>,
    next_offset: Offset,
    /// The dictionary's size at which its unreferenced strings are dropped.
    string_limit: usize,
}

/// The smallest dictionary that is compacted: a million strings (tens of MB).
pub const MIN_STRING_LIMIT: usize = 1 << 20;

impl<'p> SessionProcessor<'p> {
    /// A processor for `program`, at the start of its input.
    pub fn new(program: &'p Program) -> Self {
        let runner = Runner::new(program);
        Self {
            sessions: Sessions::new(runner.session_words()),
            runner,
            stats: Stats::default(),
            sequenced: program.input.sequence.is_some(),
            lateness: program.input.lateness,
            gap: program.input.session_gap.map(|g| g.max(1)),
            late_policy: program.input.on_late_event,
            watermark: None,
            next_sweep: Time::MIN,
            skip: HashMap::new(),
            next_offset: 0,
            string_limit: MIN_STRING_LIMIT,
        }
    }

    /// A processor resuming an input at a committed position whose watermark was `watermark`.
    pub fn resume(program: &'p Program, watermark: Option<Time>) -> Self {
        let mut p = Self::new(program);
        p.watermark = watermark;
        p
    }

    /// Ends sessions after `gap` ms of event time without events when the spec sets no gap
    /// (streams never end, so their sessions must).
    pub fn with_default_gap(mut self, gap: Time) -> Self {
        self.gap = Some(self.gap.unwrap_or(gap.max(1)));
        self
    }

    /// Compacts the string dictionary once it holds more than `limit` strings (instead of
    /// [`MIN_STRING_LIMIT`]); after each compaction the limit becomes twice the strings kept.
    pub fn with_string_limit(mut self, limit: usize) -> Self {
        self.string_limit = limit.max(1);
        self
    }

    /// Marks the events of `key` at offsets `first..=last` as a completed session to skip.
    pub fn skip_completed(&mut self, key: &str, first: Offset, last: Offset) {
        self.skip
            .entry(Str::from(key))
            .or_default()
            .push((first, last));
    }

    /// What happened so far.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Starts counting each DAG node's steps and outputs, timing one step in `sample_every`
    /// (see [`spanflow_engine::Interpreter::enable_stats`]).
    pub fn enable_node_stats(&mut self, sample_every: u32) {
        self.runner.enable_stats(sample_every);
    }

    /// The DAG nodes' counters since the last call, resetting them.
    pub fn take_node_stats(&mut self) -> spanflow_engine::InterpreterStats {
        self.runner.take_stats()
    }

    /// Records every step of the sessions of `recorder`'s key (`spanflow trace`).
    pub fn record(&mut self, recorder: spanflow_operators::recorder::Recorder) {
        self.runner.record(recorder);
    }

    /// The recorder given to [`SessionProcessor::record`], with what it recorded.
    pub fn take_recorder(&mut self) -> Option<spanflow_operators::recorder::Recorder> {
        self.runner.take_recorder()
    }

    /// Number of sessions currently open.
    pub fn open_sessions(&self) -> usize {
        self.sessions.len()
    }

    /// Whether a session with this key is open.
    pub fn is_open(&self, key: &str) -> bool {
        self.sessions.find(self.sessions.hash(key), key).is_some()
    }

    /// The newest event time seen (including late and skipped events).
    pub fn watermark(&self) -> Option<Time> {
        self.watermark
    }

    /// The program being run.
    pub fn program(&self) -> &'p Program {
        self.runner.program()
    }

    /// Adds the next event, numbering it one past the previous one (for inputs without
    /// offsets of their own, such as files and spec tests).
    pub fn push(
        &mut self,
        key: &str,
        record: impl Borrow<Record>,
        out: &mut impl Emit,
    ) -> Result<(), PipelineError> {
        self.push_at(self.next_offset, key, record, out)
    }

    /// Adds the event at `offset`; rows completed by it (and by sessions it ends) go to `out`.
    /// The record is read, not kept (its strings are interned into the session's own form), so
    /// callers decoding into a reused record can lend it.
    pub fn push_at(
        &mut self,
        offset: Offset,
        key: &str,
        record: impl Borrow<Record>,
        out: &mut impl Emit,
    ) -> Result<(), PipelineError> {
        let record = record.borrow();
        self.next_offset = offset + 1;
        let watermark_before = self.watermark;
        self.watermark = Some(watermark_before.map_or(record.time, |w| w.max(record.time)));
        let result = self.place(offset, key, record, watermark_before, out);
        self.sweep_if_due(out);
        if self.runner.strings_to_compact(self.string_limit) {
            self.compact_strings();
        }
        result
    }

    fn place(
        &mut self,
        offset: Offset,
        key: &str,
        record: &Record,
        watermark_before: Option<Time>,
        out: &mut impl Emit,
    ) -> Result<(), PipelineError> {
        if self.is_completed(key, offset) {
            self.stats.replay_skipped += 1;
            return Ok(());
        }
        let hash = self.sessions.hash(key);
        if let (Some(gap), Some(w)) = (self.gap, watermark_before) {
            if record.time.saturating_add(gap) <= w {
                let error = PipelineError::AfterSessionEnd {
                    session: key.to_string(),
                    time: record.time,
                    watermark: w,
                    gap_secs: gap as f64 / 1000.0,
                };
                return self.late(offset, None, error, out);
            }
            // The clock this event sees: the input's, or the event's own time if newer.
            let clock = w.max(record.time);
            if let Some(slot) = self
                .sessions
                .find(hash, key)
                .filter(|&s| self.sessions.peek(s).1.expired(clock, gap))
            {
                self.end_slot(slot, out);
            }
        }
        let slot = match self.sessions.find(hash, key) {
            Some(slot) => slot,
            None => {
                self.stats.sessions += 1;
                self.runner.session_opened(key);
                out.opened(offset, watermark_before);
                let runner = &self.runner;
                self.sessions
                    .insert(hash, key, OpenSession::new(offset), |words| {
                        runner.init_words(words);
                        runner.new_queues()
                    })
            }
        };
        self.runner.select_session(key);
        let (_, session, mut state) = self.sessions.get(slot);
        // Late events belong to the session too: a replay must skip them with it.
        session.touch(offset);
        let newest = session.newest();
        if record.time < newest.saturating_sub(self.lateness) {
            let joined = SessionRef {
                key,
                first: session.first(),
                last: session.last(),
            };
            let error = PipelineError::LateEvent {
                session: key.to_string(),
                time: record.time,
                newest,
                lateness_secs: self.lateness as f64 / 1000.0,
            };
            return self.late(offset, Some(joined), error, out);
        }
        self.stats.events += 1;
        // The steps this event makes due run before it is queued: they are all before its
        // time (it is not late), and the waiting buffer then holds one event, inline.
        let horizon = session
            .newest()
            .max(record.time)
            .saturating_sub(self.lateness);
        let first = session.first();
        let stats = &mut self.stats;
        session.release_before(
            &mut self.runner,
            &mut state,
            self.sequenced,
            horizon,
            &mut |row| Self::emit_row(stats, key, first, offset, row, out),
        );
        session.add(record, self.runner.strings_mut());
        Ok(())
    }

    /// Applies `on_late_event` to the late event at `offset`.
    fn late(
        &mut self,
        offset: Offset,
        session: Option<SessionRef<'_>>,
        error: PipelineError,
        out: &mut impl Emit,
    ) -> Result<(), PipelineError> {
        match self.late_policy {
            LateEventPolicy::Drop => {
                self.stats.late_dropped += 1;
                Ok(())
            }
            LateEventPolicy::DeadLetter => {
                self.stats.late_dead_lettered += 1;
                out.late(offset, session, &error);
                Ok(())
            }
            LateEventPolicy::Fail => Err(error),
        }
    }

    fn is_completed(&mut self, key: &str, offset: Offset) -> bool {
        if self.skip.is_empty() {
            return false;
        }
        self.skip
            .get(key)
            .is_some_and(|ranges| ranges.iter().any(|&(a, b)| a <= offset && offset <= b))
    }

    /// Drops the strings no open session refers to any more: a high-cardinality string field
    /// (ids, URLs) would otherwise grow the dictionary for as long as the input runs.
    fn compact_strings(&mut self) {
        let sessions = &mut self.sessions;
        let dropped = self.runner.compact_strings(|remap| {
            sessions.for_each(|open, parts| {
                remap.session(parts);
                open.waiting_syms_mut(|s| *s = remap.sym(*s));
            });
        });
        let kept = self.runner.strings().len();
        self.string_limit = self.string_limit.max(2 * kept);
        self.stats.string_compactions += 1;
        self.stats.strings_dropped += dropped as u64;
        tracing::info!(
            dropped,
            kept,
            next_at = self.string_limit,
            "string dictionary compacted"
        );
    }

    /// Ends sessions idle for the gap, at most every quarter gap of event time: when an idle
    /// session ends does not change its rows, and a key's next event ends it first anyway.
    fn sweep_if_due(&mut self, out: &mut impl Emit) {
        let (Some(w), Some(gap)) = (self.watermark, self.gap) else {
            return;
        };
        if w < self.next_sweep {
            return;
        }
        self.next_sweep = w.saturating_add((gap / 4).max(1));
        // Offsets only grow: completed ranges behind the position can never match again.
        if !self.skip.is_empty() {
            let position = self.next_offset;
            self.skip.retain(|_, ranges| {
                ranges.retain(|&mut (_, last)| last >= position);
                !ranges.is_empty()
            });
        }
        let mut idle: Vec<(&str, Slot)> = self
            .sessions
            .slots()
            .map(|slot| (self.sessions.peek(slot), slot))
            .filter(|((_, s), _)| s.expired(w, gap))
            .map(|((key, _), slot)| (key, slot))
            .collect();
        idle.sort_unstable();
        let idle: Vec<Slot> = idle.into_iter().map(|(_, slot)| slot).collect();
        for slot in idle {
            self.end_slot(slot, out);
        }
    }

    /// Ends the open session of `key`, if any: runs its remaining steps and its session-end
    /// evaluation.
    pub fn end_session(&mut self, key: &str, out: &mut impl Emit) {
        let hash = self.sessions.hash(key);
        if let Some(slot) = self.sessions.find(hash, key) {
            self.end_slot(slot, out);
        }
    }

    fn end_slot(&mut self, slot: Slot, out: &mut impl Emit) {
        let (key, s, mut state) = self.sessions.get(slot);
        self.runner.select_session(key);
        let (first, last) = (s.first(), s.last());
        let stats = &mut self.stats;
        s.release_before(
            &mut self.runner,
            &mut state,
            self.sequenced,
            Time::MAX,
            &mut |row| Self::emit_row(stats, key, first, last, row, out),
        );
        self.runner.end_in(state.header, state.words, &mut |row| {
            Self::emit_row(stats, key, first, last, row, out)
        });
        self.stats.sessions_closed += 1;
        out.closed(SessionRef { key, first, last });
        self.sessions.remove(slot);
    }

    /// Ends every open session, in key order so output is deterministic (the end of a file).
    pub fn finish(&mut self, out: &mut impl Emit) {
        let mut open: Vec<(&str, Slot)> = self
            .sessions
            .slots()
            .map(|slot| (self.sessions.peek(slot).0, slot))
            .collect();
        open.sort_unstable();
        let open: Vec<Slot> = open.into_iter().map(|(_, slot)| slot).collect();
        for slot in open {
            self.end_slot(slot, out);
        }
    }

    fn emit_row(
        stats: &mut Stats,
        key: &str,
        first: Offset,
        last: Offset,
        row: &Row,
        out: &mut impl Emit,
    ) {
        stats.rows += 1;
        out.row(SessionRef { key, first, last }, row);
    }
}

#[cfg(test)]
mod tests;
