//! Recording one session key's run, step by step: what every node emitted and the rows each
//! output produced (`spanflow trace` draws them).
//!
//! The recorder copies the interpreter's own step buffers ([`Interpreter::output`]) after each
//! step, so a trace shows exactly the values the run computed; nothing is recomputed. It is off
//! unless a [`crate::program::Runner`] is given one, and then costs one branch per step.

use crate::evaluate_at::Row;
use spanflow_engine::error::closest;
use spanflow_engine::{Interner, Interpreter, Linear, Scalar, Time, Val};

/// A value as recorded: strings resolved (the dictionary may be compacted later), linear
/// pieces kept exact.
#[derive(Clone, Debug, PartialEq)]
pub enum Recorded {
    /// Undefined (before a state's first event, a division by zero, ...).
    Undefined,
    /// A number, boolean or string.
    Scalar(Scalar),
    /// A numeric timeline's piece starting at `start`.
    Line {
        /// Where the piece starts.
        start: Time,
        /// Its value at `start` and slope per second.
        line: Linear,
    },
}

impl Recorded {
    fn of(v: Val, strings: &Interner) -> Self {
        match v {
            Val::Undef => Recorded::Undefined,
            Val::F64(x) => Recorded::Scalar(Scalar::F64(x)),
            Val::Bool(b) => Recorded::Scalar(Scalar::Bool(b)),
            Val::Sym(s) => Recorded::Scalar(Scalar::Str(strings.resolve_str(s))),
            Val::Lin { start, line } => Recorded::Line { start, line },
        }
    }
}

/// What one node emitted in one step: events, or state (numeric) changes.
#[derive(Clone, Debug, PartialEq)]
pub struct NodeOutput {
    /// The node's index in the plan.
    pub node: usize,
    /// `(instant, value)` of each event, or `(start, value)` of each change, in time order.
    pub items: Vec<(Time, Recorded)>,
}

/// One step of the session.
#[derive(Clone, Debug, PartialEq)]
pub struct RecordedStep {
    /// The step's time.
    pub now: Time,
    /// Input events delivered at `now`.
    pub records: usize,
    /// The nodes that emitted something, in plan order.
    pub outputs: Vec<NodeOutput>,
}

/// One session of the recorded key, from its first step to its end.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RecordedSession {
    /// The steps, in time order.
    pub steps: Vec<RecordedStep>,
    /// The rows every output produced, in the order the run produced them.
    pub rows: Vec<Row>,
    /// When the session ended (its last step's time), if it did.
    pub ended: Option<Time>,
}

impl RecordedSession {
    /// The first step's time.
    pub fn start(&self) -> Option<Time> {
        self.steps.first().map(|s| s.now)
    }

    /// The last step's time.
    pub fn last(&self) -> Option<Time> {
        self.steps.last().map(|s| s.now)
    }
}

/// How many other keys a recorder remembers for the "no such session" message.
const SAMPLE_KEYS: usize = 5;

/// Records the sessions of one key; told by the session processor which key each step is for.
#[derive(Clone, Debug)]
pub struct Recorder {
    key: String,
    active: bool,
    sessions: Vec<RecordedSession>,
    /// The first other keys seen, and the one closest to `key` (a likely typo).
    others: Vec<String>,
    closest: Option<String>,
}

impl Recorder {
    /// A recorder of the sessions of `key`.
    pub fn new(key: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            active: false,
            sessions: Vec::new(),
            others: Vec::new(),
            closest: None,
        }
    }

    /// The key recorded.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Whether the steps that follow are the recorded key's.
    pub fn is_active(&self) -> bool {
        self.active
    }

    /// The next steps are for a session of `key`.
    #[inline]
    pub fn select(&mut self, key: &str) {
        self.active = key == self.key;
    }

    /// A session of `key` opened: remembered for the "no such session" message when it is
    /// another key (once per session, not per event: comparing keys costs).
    pub fn opened(&mut self, key: &str) {
        if key == self.key || self.others.iter().any(|k| k == key) {
            return;
        }
        if self.others.len() < SAMPLE_KEYS {
            self.others.push(key.to_string());
        }
        let candidates = self.closest.iter().map(String::as_str).chain([key]);
        self.closest = closest(&self.key, candidates);
    }

    /// Copies what every node emitted in the step at `now` (with `records` input events).
    pub fn step<E: spanflow_engine::Evaluate>(
        &mut self,
        interp: &Interpreter<'_, E>,
        first: bool,
        now: Time,
        records: usize,
    ) {
        if first || self.sessions.is_empty() {
            self.sessions.push(RecordedSession::default());
        }
        let strings = interp.strings();
        let outputs = (0..interp.plan().nodes.len())
            .filter(|&i| !interp.output(i).is_empty())
            .map(|i| NodeOutput {
                node: i,
                items: interp
                    .output(i)
                    .items
                    .iter()
                    .map(|&(t, v)| (t, Recorded::of(v, strings)))
                    .collect(),
            })
            .collect();
        self.current().steps.push(RecordedStep {
            now,
            records,
            outputs,
        });
    }

    /// A row the step (or the session's end) produced.
    pub fn row(&mut self, row: &Row) {
        self.current().rows.push(row.clone());
    }

    /// The session ended at `at`.
    pub fn ended(&mut self, at: Time) {
        self.current().ended = Some(at);
    }

    fn current(&mut self) -> &mut RecordedSession {
        if self.sessions.is_empty() {
            self.sessions.push(RecordedSession::default());
        }
        self.sessions.last_mut().expect("a session was just pushed")
    }

    /// The recorded sessions of the key, in time order.
    pub fn sessions(&self) -> &[RecordedSession] {
        &self.sessions
    }

    /// The recorded sessions, taken out.
    pub fn into_sessions(self) -> Vec<RecordedSession> {
        self.sessions
    }

    /// Some keys the input has besides the recorded one: the first ones seen, and the closest
    /// match to the key first when there is one.
    pub fn other_keys(&self) -> Vec<&str> {
        let mut keys: Vec<&str> = self.closest.iter().map(String::as_str).collect();
        keys.extend(
            self.others
                .iter()
                .map(String::as_str)
                .filter(|k| Some(*k) != self.closest.as_deref()),
        );
        keys.truncate(SAMPLE_KEYS);
        keys
    }

    /// The closest other key to the recorded one, if one is close enough to be a typo.
    pub fn closest_key(&self) -> Option<&str> {
        self.closest.as_deref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn other_keys_put_the_likely_typo_first_and_stay_few() {
        let mut r = Recorder::new("session-42");
        for k in ["a", "b", "c", "d", "e", "f", "session-24", "session-42"] {
            r.opened(k);
            r.select(k);
        }
        assert!(r.is_active());
        assert_eq!(r.closest_key(), Some("session-24"));
        assert_eq!(r.other_keys(), ["session-24", "a", "b", "c", "d"]);
        r.select("b");
        assert!(!r.is_active());
    }
}
