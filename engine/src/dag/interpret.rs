//! The incremental interpreter: one step per instant, each node consuming what its inputs emitted.

use super::Plan;
use crate::error::TypeMismatch;
use crate::kind::TimelineType;
use crate::record::Record;
use crate::time::Time;
use crate::timeline::Timeline;
use smallvec::SmallVec;
use thiserror::Error;

/// What a step knows besides the inputs' output.
#[derive(Clone, Copy, Debug)]
pub struct StepCtx<'a> {
    /// The previous step's time; `None` on the session's first step.
    pub prev: Option<Time>,
    /// This step's time: every event of the step happens at `now`.
    pub now: Time,
    /// The input records at `now`, in arrival (or sequence) order.
    pub records: &'a [Record],
    /// The session has ended at `now`: no records, only digests act on it.
    pub session_end: bool,
}

impl StepCtx<'_> {
    /// Whether this is the first step of the session.
    pub fn is_first(&self) -> bool {
        self.prev.is_none()
    }

    /// The start of the interval this step covers: `prev`, or `now` on the first step.
    pub fn from(&self) -> Time {
        self.prev.unwrap_or(self.now)
    }
}

/// What the engine needs from an operator; implemented once for the operator enum, so the
/// interpreter is monomorphised and dispatch is a `match`, never a virtual call.
pub trait Evaluate {
    /// Per-session state of one node.
    type State;

    /// The operator's name as written in specs.
    fn name(&self) -> &'static str;

    /// The output type for these input types, or why they are wrong.
    fn output_type(&self, inputs: &[TimelineType]) -> Result<TimelineType, TypeMismatch>;

    /// Fresh state for a new session.
    fn init_state(&self) -> Self::State;

    /// Whether `state` (as made by [`Evaluate::init_state`]) carries nothing between steps, so
    /// one instance may serve every session and sessions store no slot for the node.
    fn is_stateless(_state: &Self::State) -> bool {
        false
    }

    /// Whether a step in which no input emitted anything would emit nothing and leave `state`
    /// unchanged, so the interpreter may skip this node; `numeric_input` says whether an input
    /// is numeric (its value moves between instants). The default, `false`, always steps.
    fn idle_without_input(
        &self,
        _state: &Self::State,
        _numeric_input: bool,
        _cx: &StepCtx<'_>,
    ) -> bool {
        false
    }

    /// Consumes the inputs' output for one step and writes this node's output into `out`
    /// (already cleared, and of this node's type).
    fn step(
        &self,
        state: &mut Self::State,
        inputs: &[&Timeline],
        cx: &StepCtx<'_>,
        out: &mut Timeline,
    );

    /// Parameters for `explain`, e.g. `value: "buffer"`.
    fn describe(&self) -> String {
        String::new()
    }
}

/// A step that cannot be applied to a session.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
pub enum StepError {
    /// Steps must move forward in event time.
    #[error("event at {now} is before the session's last step at {last}")]
    OutOfOrder {
        /// The rejected step's time.
        now: Time,
        /// The session's last step time.
        last: Time,
    },
    /// The session already ended.
    #[error("the session has already ended")]
    Ended,
}

/// The per-session state of every stateful node (one allocation when the session opens).
#[derive(Clone, Debug)]
pub struct Session<S> {
    states: Box<[S]>,
    last: Option<Time>,
    ended: bool,
}

impl<S> Session<S> {
    /// Time of the last step, if any.
    pub fn last_time(&self) -> Option<Time> {
        self.last
    }

    /// Whether `end` was called.
    pub fn has_ended(&self) -> bool {
        self.ended
    }

    /// The states of the stateful nodes, in plan order.
    pub fn states(&self) -> &[S] {
        &self.states
    }
}

/// Runs a plan step by step. The per-step output buffers are shared by all sessions and reused,
/// so steady-state steps allocate nothing.
#[derive(Debug)]
pub struct Interpreter<'p, E: Evaluate> {
    plan: &'p Plan<E>,
    outputs: Vec<Timeline>,
    /// Per node: whether its output of the current step is not empty.
    emitted: Vec<bool>,
    /// Per node: whether an input is a numeric timeline.
    numeric_input: Vec<bool>,
    /// Per node: where its state lives (per session, or shared because it has none).
    slots: Vec<Slot>,
    /// The states of the stateless nodes, shared by all sessions.
    shared: Vec<E::State>,
    /// Per-node counters, when enabled.
    stats: Option<StatsKeeper>,
}

/// What each node did since the stats were last taken (see [`Interpreter::enable_stats`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodeStats {
    /// Steps the node ran (it is skipped in steps that cannot change it).
    pub steps: u64,
    /// Items it emitted: records, events, or state (and numeric) changes. A node is skipped
    /// only when none of its inputs emitted anything, so what a node receives is the sum of its
    /// inputs' outputs.
    pub outputs: u64,
}

/// Counters kept by an interpreter with [`Interpreter::enable_stats`], taken (and reset) by
/// [`Interpreter::take_stats`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct InterpreterStats {
    /// Per node, in plan order.
    pub nodes: Vec<NodeStats>,
    /// Timed node steps `(node index, nanoseconds)`, from one step in every `sample_every`.
    pub timings: Vec<(usize, u64)>,
}

/// The most timings kept between two [`Interpreter::take_stats`]; later ones are dropped so
/// memory stays bounded when nobody takes them.
const MAX_TIMINGS: usize = 4096;

/// An interpreter's stats and its sampling clock.
#[derive(Debug)]
struct StatsKeeper {
    stats: InterpreterStats,
    sample_every: u32,
    until_sample: u32,
}

/// Where a node's state lives.
#[derive(Clone, Copy, Debug)]
enum Slot {
    /// Index into the session's states.
    Session(usize),
    /// Index into the interpreter's shared (stateless) states.
    Shared(usize),
}

impl<'p, E: Evaluate> Interpreter<'p, E> {
    /// An interpreter for `plan`.
    pub fn new(plan: &'p Plan<E>) -> Self {
        let outputs = plan.nodes.iter().map(|n| Timeline::empty(n.ty)).collect();
        let numeric_input = plan
            .nodes
            .iter()
            .map(|n| {
                n.inputs
                    .iter()
                    .any(|&j| plan.nodes[j].ty.kind == crate::kind::Kind::Numeric)
            })
            .collect();
        let mut shared = Vec::new();
        let mut per_session = 0;
        let slots = plan
            .nodes
            .iter()
            .map(|n| {
                let state = n.op.init_state();
                if E::is_stateless(&state) {
                    shared.push(state);
                    Slot::Shared(shared.len() - 1)
                } else {
                    per_session += 1;
                    Slot::Session(per_session - 1)
                }
            })
            .collect();
        Self {
            plan,
            outputs,
            emitted: vec![false; plan.nodes.len()],
            numeric_input,
            slots,
            shared,
            stats: None,
        }
    }

    /// Starts counting each node's steps and outputs, and timing every node of one step in
    /// `sample_every` (timing every step would cost more than the steps themselves).
    pub fn enable_stats(&mut self, sample_every: u32) {
        let sample_every = sample_every.max(1);
        self.stats = Some(StatsKeeper {
            stats: InterpreterStats {
                nodes: vec![NodeStats::default(); self.plan.nodes.len()],
                timings: Vec::new(),
            },
            sample_every,
            until_sample: sample_every,
        });
    }

    /// The counters since the last call (empty when stats are not enabled), resetting them.
    pub fn take_stats(&mut self) -> InterpreterStats {
        match &mut self.stats {
            Some(keeper) => {
                let fresh = InterpreterStats {
                    nodes: vec![NodeStats::default(); keeper.stats.nodes.len()],
                    timings: Vec::new(),
                };
                std::mem::replace(&mut keeper.stats, fresh)
            }
            None => InterpreterStats::default(),
        }
    }

    /// The plan being run.
    pub fn plan(&self) -> &'p Plan<E> {
        self.plan
    }

    /// State for a new session.
    pub fn open_session(&self) -> Session<E::State> {
        Session {
            states: self
                .plan
                .nodes
                .iter()
                .zip(&self.slots)
                .filter(|(_, slot)| matches!(slot, Slot::Session(_)))
                .map(|(n, _)| n.op.init_state())
                .collect(),
            last: None,
            ended: false,
        }
    }

    /// Advances `session` to `now` and delivers `records` (all at `now`).
    pub fn step(
        &mut self,
        session: &mut Session<E::State>,
        now: Time,
        records: &[Record],
    ) -> Result<(), StepError> {
        if session.ended {
            return Err(StepError::Ended);
        }
        if let Some(last) = session.last {
            if now <= last {
                // Equal times must arrive in one step; the caller batches them.
                return Err(StepError::OutOfOrder { now, last });
            }
        }
        let cx = StepCtx {
            prev: session.last,
            now,
            records,
            session_end: false,
        };
        self.run(session, &cx);
        session.last = Some(now);
        Ok(())
    }

    /// Ends the session at its last step's time, letting digests emit their session-end rows.
    /// Does nothing for a session that never stepped.
    pub fn end(&mut self, session: &mut Session<E::State>) {
        let Some(last) = session.last else { return };
        if session.ended {
            return;
        }
        let cx = StepCtx {
            prev: Some(last),
            now: last,
            records: &[],
            session_end: true,
        };
        self.run(session, &cx);
        session.ended = true;
    }

    /// What node `index` emitted in the last step.
    pub fn output(&self, index: usize) -> &Timeline {
        &self.outputs[index]
    }

    /// Steps every node in plan order. A node none of whose inputs emitted anything is skipped
    /// when its operator says such a step does nothing (change propagation: most events touch
    /// a few fields, so most nodes have nothing to do), except on the first step and the end.
    fn run(&mut self, session: &mut Session<E::State>, cx: &StepCtx<'_>) {
        let may_skip = !cx.is_first() && !cx.session_end;
        let timed = match &mut self.stats {
            Some(keeper) => {
                keeper.until_sample -= 1;
                let due = keeper.until_sample == 0;
                if due {
                    keeper.until_sample = keeper.sample_every;
                }
                due && keeper.stats.timings.len() < MAX_TIMINGS
            }
            None => false,
        };
        for (i, node) in self.plan.nodes.iter().enumerate() {
            let state = match self.slots[i] {
                Slot::Session(k) => &mut session.states[k],
                Slot::Shared(k) => &mut self.shared[k],
            };
            let quiet = !node.inputs.is_empty() && node.inputs.iter().all(|&j| !self.emitted[j]);
            if self.emitted[i] {
                self.outputs[i].clear();
                self.emitted[i] = false;
            }
            if may_skip && quiet && node.op.idle_without_input(state, self.numeric_input[i], cx) {
                continue;
            }
            let (before, rest) = self.outputs.split_at_mut(i);
            let out = &mut rest[0];
            let inputs: SmallVec<[&Timeline; 4]> =
                node.inputs.iter().map(|&j| &before[j]).collect();
            let started = timed.then(std::time::Instant::now);
            node.op.step(state, &inputs, cx, out);
            self.emitted[i] = !out.is_empty();
            if let Some(keeper) = &mut self.stats {
                let counters = &mut keeper.stats.nodes[i];
                counters.steps += 1;
                if self.emitted[i] {
                    counters.outputs += out.item_count() as u64;
                }
                if let Some(started) = started {
                    let nanos = started.elapsed().as_nanos().min(u64::MAX as u128) as u64;
                    keeper.stats.timings.push((i, nanos));
                }
            }
        }
    }
}
