//! The interpreter of a compiled plan: one step per instant, walking only the nodes that have
//! something to do.
//!
//! **Layout.** Every node has a fixed slot in one flat block of `u64` words per session. The
//! block starts with the nodes' current output values (one word, or three for a linear piece;
//! none for events; booleans take two bits, 32 to a word), followed by the words each operator
//! asked for and a deadline word for time-driven nodes. Nodes read their inputs' values from
//! their producers' slots and step buffers; they keep no copies. The few operators that
//! remember an unbounded history get a queue in the session's side table.
//!
//! **Scheduling.** Each node has a consumer mask. A step marks dirty the `get` nodes whose field
//! is present in the step's records (the field router: `event_source` and `get` are not stepped
//! per event), the nodes that must run every step, and the time-driven nodes whose deadline is
//! due (one deadline word per session: the earliest of them); it then walks the dirty nodes in
//! topological order, and a node that emitted marks its consumers dirty. The first step of a
//! session runs every node, so each defines its value from the start.

use super::Plan;
use crate::buf::Buf;
use crate::error::TypeMismatch;
use crate::kind::{Kind, TimelineType};
use crate::record::Event;
use crate::strings::Interner;
use crate::time::Time;
use crate::val::{SlotCodec, Sym, Val};
use crate::value::{Scalar, ValueType};
use std::collections::VecDeque;
use thiserror::Error;

/// What a step knows besides the inputs' output.
#[derive(Clone, Copy, Debug)]
pub struct StepCtx<'a> {
    /// The previous step's time; `None` on the session's first step.
    pub prev: Option<Time>,
    /// This step's time: every event of the step happens at `now`.
    pub now: Time,
    /// The input events at `now`, in arrival (or sequence) order.
    pub records: &'a [Event],
    /// The session has ended at `now`: no records, only digests act on it.
    pub session_end: bool,
    /// The interpreter's strings (for ordering string values).
    pub strings: &'a Interner,
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

/// When a node has to be stepped (besides a session's first step, which runs every node).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Wake {
    /// When an input emitted something.
    #[default]
    Inputs,
    /// Also when its deadline (written to [`Io::deadline`] by each step) is due: a window
    /// closing, a sliding edge, a numeric input crossing a threshold.
    Deadline,
    /// In every step (scripted test sources).
    Always,
    /// In steps with records (`event_source`, when a consumer other than `get` reads it).
    Records,
    /// In steps with a record whose field `slot` is not null (`get`).
    Field(usize),
}

/// What a node needs besides its output value: extra state words, a queue, when to wake.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Layout {
    /// Extra `u64` words of per-session state.
    pub words: usize,
    /// Whether the node keeps a queue of `(time, value)` pairs per session.
    pub queue: bool,
    /// When the node is stepped.
    pub wake: Wake,
}

/// What the engine needs from an operator; implemented once for the operator enum, so the
/// interpreter is monomorphised and dispatch is a `match`, never a virtual call.
pub trait Evaluate {
    /// The operator's name as written in specs.
    fn name(&self) -> &'static str;

    /// The output type for these input types, or why they are wrong.
    fn output_type(&self, inputs: &[TimelineType]) -> Result<TimelineType, TypeMismatch>;

    /// The node's per-session layout and wake rule, for these (checked) input types.
    fn layout(&self, _inputs: &[TimelineType]) -> Layout {
        Layout::default()
    }

    /// The constants the node compares or computes with, resolved once per interpreter (strings
    /// interned) and handed to each step as [`Io::consts`], in this order.
    fn constants(&self) -> Vec<Scalar> {
        Vec::new()
    }

    /// Initial values of the extra words (they start at zero).
    fn init(&self, _words: &mut [u64]) {}

    /// Reads the inputs' output for one step and writes this node's output into `io.out`
    /// (empty, and of this node's type).
    fn step(&self, io: &mut Io<'_>);

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

/// A node's queue of `(time, value)` pairs (e.g. the events `prior_event` still remembers).
pub type Queue = VecDeque<(Time, Val)>;

/// `Session::last` before the first step.
const NEVER: Time = Time::MIN;

/// `SessionHeader::deadline` of an ended session (no deadline is ever due again).
const ENDED: Time = Time::MIN;

/// What a session knows besides its slots: when it last stepped, its earliest deadline
/// (16 bytes: it is per-session memory).
#[derive(Clone, Copy, Debug)]
pub struct SessionHeader {
    last: Time,
    /// The earliest deadline of the time-driven nodes; [`ENDED`] once the session ended.
    deadline: Time,
}

impl Default for SessionHeader {
    fn default() -> Self {
        Self {
            last: NEVER,
            deadline: Time::MAX,
        }
    }
}

impl SessionHeader {
    /// Time of the last step, if any.
    pub fn last_time(&self) -> Option<Time> {
        (self.last != NEVER).then_some(self.last)
    }

    /// Whether the session was ended.
    pub fn has_ended(&self) -> bool {
        self.deadline == ENDED
    }
}

/// One session's state as the interpreter steps it: the header, the word block (from
/// [`Interpreter::init_words`], [`Interpreter::session_words`] long) and the queues (from
/// [`Interpreter::new_queues`]), wherever the caller keeps them (e.g. in one arena for all
/// sessions).
#[derive(Debug)]
pub struct SessionParts<'a> {
    /// The header.
    pub header: &'a mut SessionHeader,
    /// The word block.
    pub words: &'a mut [u64],
    /// The queues, for plans that have queued nodes.
    pub queues: Option<&'a mut [Queue]>,
}

impl SessionParts<'_> {
    /// A shorter-lived handle on the same parts, for one step.
    pub fn reborrow(&mut self) -> SessionParts<'_> {
        SessionParts {
            header: &mut *self.header,
            words: &mut *self.words,
            queues: self.queues.as_deref_mut(),
        }
    }
}

/// The per-session state of a plan in one value: a header, one block of words, queues only for
/// nodes that need them.
#[derive(Clone, Debug)]
pub struct Session {
    header: SessionHeader,
    words: Box<[u64]>,
    queues: Option<Box<[Queue]>>,
}

impl Session {
    /// Time of the last step, if any.
    pub fn last_time(&self) -> Option<Time> {
        self.header.last_time()
    }

    /// Whether `end` was called.
    pub fn has_ended(&self) -> bool {
        self.header.has_ended()
    }

    /// The session's word block.
    pub fn words(&self) -> &[u64] {
        &self.words
    }

    /// The parts the interpreter steps.
    pub fn parts(&mut self) -> SessionParts<'_> {
        SessionParts {
            header: &mut self.header,
            words: &mut self.words,
            queues: self.queues.as_deref_mut(),
        }
    }

    /// Heap bytes this session holds (its word block and queues).
    pub fn heap_bytes(&self) -> usize {
        self.words.len() * 8 + self.queues.as_deref().map_or(0, queue_bytes)
    }
}

/// Heap bytes of a session's queues.
pub fn queue_bytes(queues: &[Queue]) -> usize {
    std::mem::size_of_val(queues)
        + queues
            .iter()
            .map(|q| q.capacity() * std::mem::size_of::<(Time, Val)>())
            .sum::<usize>()
}

/// The old and new dictionaries during [`Interpreter::compact_strings`].
#[derive(Debug)]
pub struct StringRemap<'a> {
    old: &'a Interner,
    new: Interner,
    map: Vec<Sym>,
    /// Offsets of the words holding symbols in a session's block.
    sym_words: Vec<usize>,
}

impl StringRemap<'_> {
    /// Remaps the symbols held in one session's state.
    pub fn session(&mut self, session: SessionParts<'_>) {
        for i in 0..self.sym_words.len() {
            let w = session.words[self.sym_words[i]];
            if w != u64::MAX {
                session.words[self.sym_words[i]] = u64::from(self.sym(w as Sym));
            }
        }
        if let Some(queues) = session.queues {
            for q in queues.iter_mut() {
                for (_, v) in q.iter_mut() {
                    if let Val::Sym(s) = v {
                        *s = self.sym(*s);
                    }
                }
            }
        }
    }

    /// The new symbol of the old symbol `s`.
    pub fn sym(&mut self, s: Sym) -> Sym {
        let slot = &mut self.map[s as usize];
        if *slot == Sym::MAX {
            *slot = self.new.intern(self.old.resolve(s));
        }
        *slot
    }
}

/// A node's inputs during its step: their step buffers and values before the step.
#[derive(Clone, Copy, Debug)]
pub struct Inputs<'a> {
    bufs: &'a [Buf],
    idx: &'a [u32],
    nodes: &'a [NodeInfo],
    words: &'a [u64],
}

impl<'a> Inputs<'a> {
    /// Number of inputs.
    #[inline]
    pub fn len(&self) -> usize {
        self.idx.len()
    }

    /// Whether the node has no inputs.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.idx.is_empty()
    }

    /// Input `k`'s output of this step.
    #[inline]
    pub fn buf(&self, k: usize) -> &'a Buf {
        &self.bufs[self.idx[k] as usize]
    }

    /// Input `k`'s changes or events of this step.
    #[inline]
    pub fn items(&self, k: usize) -> &'a [(Time, Val)] {
        &self.buf(k).items
    }

    /// The records input `k`'s events come from (see [`Buf::origins`]), one per item.
    #[inline]
    pub fn origins(&self, k: usize) -> &'a [u32] {
        &self.buf(k).origins
    }

    /// Input `k`'s type.
    #[inline]
    pub fn ty(&self, k: usize) -> TimelineType {
        self.nodes[self.idx[k] as usize].ty
    }

    /// Input `k`'s kind.
    #[inline]
    pub fn kind(&self, k: usize) -> Kind {
        self.ty(k).kind
    }

    /// Input `k`'s value before this step (undefined for events).
    #[inline]
    pub fn before(&self, k: usize) -> Val {
        let j = self.idx[k] as usize;
        let b = &self.bufs[j];
        if b.is_empty() {
            self.nodes[j].value.load(self.words)
        } else {
            b.before
        }
    }

    /// Whether input `k` emitted anything this step.
    #[inline]
    pub fn emitted(&self, k: usize) -> bool {
        !self.buf(k).is_empty()
    }
}

/// Everything one node's step reads and writes.
#[derive(Debug)]
pub struct Io<'a> {
    /// The step.
    pub cx: &'a StepCtx<'a>,
    /// The inputs.
    pub inputs: Inputs<'a>,
    /// This node's output of the step (empty at the start).
    pub out: &'a mut Buf,
    /// This node's current output value (state and numeric nodes; undefined for events).
    pub last: &'a mut Val,
    /// The extra state words asked for in [`Layout::words`].
    pub words: &'a mut [u64],
    /// The queue asked for in [`Layout::queue`].
    pub queue: Option<&'a mut Queue>,
    /// The resolved [`Evaluate::constants`].
    pub consts: &'a [Val],
    /// Time-driven nodes: the next instant after this step at which the node must be stepped
    /// even if no input emits ([`Time::MAX`]: none). Stepping earlier is harmless.
    pub deadline: Time,
}

impl Io<'_> {
    /// The node's queue.
    ///
    /// # Panics
    /// When the layout asked for none: an operator bug.
    pub fn queue(&mut self) -> &mut Queue {
        self.queue
            .as_deref_mut()
            .expect("internal error: the node's layout has no queue")
    }
}

/// What each node did since the stats were last taken (see [`Interpreter::enable_stats`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodeStats {
    /// Steps the node ran (it is skipped in steps that cannot change it).
    pub steps: u64,
    /// Items it emitted: records, events, or state (and numeric) changes.
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

#[derive(Debug)]
struct StatsKeeper {
    stats: InterpreterStats,
    sample_every: u32,
    until_sample: u32,
}

/// Where a node's current output value lives in a session's block.
#[derive(Clone, Copy, Debug)]
struct ValueSlot {
    codec: SlotCodec,
    /// The (first) word of the value.
    word: usize,
    /// Booleans: the value's two bits are at this shift in `word` (0 false, 1 true, 2
    /// undefined), so up to 32 boolean nodes share one word.
    shift: u32,
}

/// The bits of a boolean value in its word.
const BOOL_BITS: u64 = 0b11;

impl ValueSlot {
    #[inline]
    fn load(self, words: &[u64]) -> Val {
        match self.codec {
            SlotCodec::Bool => match (words[self.word] >> self.shift) & BOOL_BITS {
                0 => Val::Bool(false),
                1 => Val::Bool(true),
                _ => Val::Undef,
            },
            codec => codec.load(&words[self.word..]),
        }
    }

    #[inline]
    fn store(self, words: &mut [u64], v: Val) {
        match self.codec {
            SlotCodec::Bool => {
                let bits = match v {
                    Val::Bool(b) => u64::from(b),
                    Val::Undef => 2,
                    v => panic!("internal error: cannot keep {v:?} in a boolean slot"),
                };
                let w = &mut words[self.word];
                *w = (*w & !(BOOL_BITS << self.shift)) | (bits << self.shift);
            }
            codec => codec.store(&mut words[self.word..], v),
        }
    }
}

/// The compiled facts of one node.
#[derive(Clone, Debug)]
struct NodeInfo {
    ty: TimelineType,
    /// The node's current value, in the block's value region.
    value: ValueSlot,
    /// First of the node's extra words (after the value region).
    extra_at: usize,
    /// Extra words.
    extra: usize,
    /// Index of the deadline word in the block, for time-driven nodes.
    deadline_word: Option<usize>,
    queue: Option<usize>,
    wake: Wake,
    /// The node's inputs in `Interpreter::inputs`.
    inputs: std::ops::Range<usize>,
    /// The node's constants in `Interpreter::consts`.
    consts: std::ops::Range<usize>,
}

/// Runs a plan step by step. The step buffers are shared by all sessions and reused, so
/// steady-state steps allocate nothing.
#[derive(Debug)]
pub struct Interpreter<'p, E: Evaluate> {
    plan: &'p Plan<E>,
    nodes: Vec<NodeInfo>,
    inputs: Vec<u32>,
    consts: Vec<Val>,
    /// `words_per_mask` words per node: the nodes reading it.
    consumers: Vec<u64>,
    words_per_mask: usize,
    /// The `get` nodes: `(node, field slot)`.
    fields: Vec<(usize, usize)>,
    /// Nodes stepped in every step, and in steps with records.
    always: Vec<u64>,
    on_records: Vec<u64>,
    /// Time-driven nodes.
    timed: Vec<usize>,
    /// Record sources (`event_source`): counted as emitting every record, stepped or not.
    record_sources: Vec<usize>,
    /// Words of the value region at the start of each session's block.
    values_len: usize,
    bufs: Vec<Buf>,
    /// Nodes whose buffer is not empty.
    emitted: Vec<u32>,
    dirty: Vec<u64>,
    /// A fresh session's word block.
    template: Box<[u64]>,
    queues: usize,
    strings: Interner,
    stats: Option<StatsKeeper>,
}

fn set(mask: &mut [u64], i: usize) {
    mask[i / 64] |= 1 << (i % 64);
}

impl<'p, E: Evaluate> Interpreter<'p, E> {
    /// An interpreter for `plan`, its constants interned in a fresh dictionary.
    pub fn new(plan: &'p Plan<E>) -> Self {
        Self::with_strings(plan, Interner::new())
    }

    /// An interpreter for `plan` whose dictionary starts as `strings`.
    pub fn with_strings(plan: &'p Plan<E>, mut strings: Interner) -> Self {
        let n = plan.nodes.len();
        let w = n.div_ceil(64).max(1);
        let mut nodes = Vec::with_capacity(n);
        let mut inputs = Vec::new();
        let mut consts = Vec::new();
        let mut queues = 0;
        let mut fields = Vec::new();
        let mut always = vec![0u64; w];
        let mut on_records = vec![0u64; w];
        let mut timed = Vec::new();
        let mut record_sources = Vec::new();
        // The value region: whole-word values first, then the booleans packed 32 to a word;
        // the extra words follow it.
        let codecs: Vec<SlotCodec> = plan.nodes.iter().map(|n| SlotCodec::of(n.ty)).collect();
        let wide_words: usize = codecs
            .iter()
            .filter(|&&c| c != SlotCodec::Bool)
            .map(|c| c.words())
            .sum();
        let bools = codecs.iter().filter(|&&c| c == SlotCodec::Bool).count();
        let values_len = wide_words + bools.div_ceil(32);
        let (mut next_wide, mut next_bool) = (0, 0);
        let mut extra_at = values_len;
        for (i, node) in plan.nodes.iter().enumerate() {
            let input_types: Vec<TimelineType> =
                node.inputs.iter().map(|&j| plan.nodes[j].ty).collect();
            let layout = node.op.layout(&input_types);
            let codec = codecs[i];
            let value = if codec == SlotCodec::Bool {
                next_bool += 1;
                ValueSlot {
                    codec,
                    word: wide_words + (next_bool - 1) / 32,
                    shift: 2 * ((next_bool as u32 - 1) % 32),
                }
            } else {
                next_wide += codec.words();
                ValueSlot {
                    codec,
                    word: next_wide - codec.words(),
                    shift: 0,
                }
            };
            let first_input = inputs.len();
            inputs.extend(node.inputs.iter().map(|&j| j as u32));
            let first_const = consts.len();
            consts.extend(node.op.constants().iter().map(|c| match c {
                Scalar::F64(v) => Val::F64(*v),
                Scalar::Bool(v) => Val::Bool(*v),
                Scalar::Str(s) => Val::Sym(strings.intern(s)),
            }));
            let timed_node = layout.wake == Wake::Deadline;
            let info = NodeInfo {
                ty: node.ty,
                value,
                extra_at,
                extra: layout.words,
                deadline_word: timed_node.then_some(extra_at + layout.words),
                queue: layout.queue.then(|| {
                    queues += 1;
                    queues - 1
                }),
                wake: layout.wake,
                inputs: first_input..inputs.len(),
                consts: first_const..consts.len(),
            };
            match layout.wake {
                Wake::Field(slot) => fields.push((i, slot)),
                Wake::Always => set(&mut always, i),
                Wake::Records => {
                    set(&mut on_records, i);
                    record_sources.push(i);
                }
                Wake::Deadline => timed.push(i),
                Wake::Inputs => {}
            }
            extra_at += layout.words + usize::from(timed_node);
            nodes.push(info);
        }
        let mut consumers = vec![0u64; n * w];
        for (i, node) in plan.nodes.iter().enumerate() {
            for &j in &node.inputs {
                // The field router wakes `get` nodes itself: a record does not wake them all.
                if !matches!(nodes[i].wake, Wake::Field(_)) {
                    set(&mut consumers[j * w..(j + 1) * w], i);
                }
            }
        }
        // A record source only has to run when something else than a `get` reads it.
        for (j, info) in nodes.iter().enumerate() {
            if info.wake == Wake::Records && consumers[j * w..(j + 1) * w].iter().all(|&m| m == 0) {
                on_records[j / 64] &= !(1 << (j % 64));
            }
        }
        let mut template = vec![0u64; extra_at].into_boxed_slice();
        for (node, info) in plan.nodes.iter().zip(&nodes) {
            info.value.store(&mut template, Val::Undef);
            node.op
                .init(&mut template[info.extra_at..info.extra_at + info.extra]);
            if let Some(d) = info.deadline_word {
                template[d] = Time::MAX as u64;
            }
        }
        Self {
            plan,
            values_len,
            bufs: nodes
                .iter()
                .map(|n| Buf::new(n.ty.kind == Kind::Numeric))
                .collect(),
            nodes,
            inputs,
            consts,
            consumers,
            words_per_mask: w,
            fields,
            always,
            on_records,
            timed,
            record_sources,
            emitted: Vec::with_capacity(n),
            dirty: vec![0; w],
            template,
            queues,
            strings,
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

    /// The dictionary of string values.
    pub fn strings(&self) -> &Interner {
        &self.strings
    }

    /// The dictionary, to intern the strings of incoming records.
    pub fn strings_mut(&mut self) -> &mut Interner {
        &mut self.strings
    }

    /// Words of per-session state (8 bytes each).
    pub fn session_words(&self) -> usize {
        self.template.len()
    }

    /// State for a new session.
    pub fn open_session(&self) -> Session {
        Session {
            header: SessionHeader::default(),
            words: self.template.clone(),
            queues: self.new_queues(),
        }
    }

    /// Fills a new session's word block (of [`Interpreter::session_words`] words).
    pub fn init_words(&self, words: &mut [u64]) {
        words.copy_from_slice(&self.template);
    }

    /// A new session's queues, for plans with queued nodes.
    pub fn new_queues(&self) -> Option<Box<[Queue]>> {
        (self.queues > 0).then(|| (0..self.queues).map(|_| VecDeque::new()).collect())
    }

    /// Advances `session` to `now` and delivers `records` (all at `now`).
    pub fn step(
        &mut self,
        session: &mut Session,
        now: Time,
        records: &[Event],
    ) -> Result<(), StepError> {
        self.step_in(session.parts(), now, records)
    }

    /// [`Interpreter::step`] on a session kept in parts.
    pub fn step_in(
        &mut self,
        session: SessionParts<'_>,
        now: Time,
        records: &[Event],
    ) -> Result<(), StepError> {
        let SessionParts {
            header,
            words,
            mut queues,
        } = session;
        if header.has_ended() {
            return Err(StepError::Ended);
        }
        if header.last != NEVER && now <= header.last {
            // Equal times must arrive in one step; the caller batches them.
            return Err(StepError::OutOfOrder {
                now,
                last: header.last,
            });
        }
        self.clear_emitted();
        let first = header.last == NEVER;
        if first {
            let n = self.nodes.len();
            for (k, m) in self.dirty.iter_mut().enumerate() {
                let bits = n.saturating_sub(k * 64).min(64);
                *m = if bits == 64 {
                    u64::MAX
                } else {
                    (1 << bits) - 1
                };
            }
        } else {
            self.dirty.copy_from_slice(&self.always);
            if !records.is_empty() {
                for (m, r) in self.dirty.iter_mut().zip(&self.on_records) {
                    *m |= r;
                }
                for &(node, slot) in &self.fields {
                    if records.iter().any(|r| r.field(slot).val().is_some()) {
                        set(&mut self.dirty, node);
                    }
                }
            }
            if header.deadline <= now {
                for &i in &self.timed {
                    let d = self.nodes[i].deadline_word.expect("timed node");
                    if words[d] as Time <= now {
                        set(&mut self.dirty, i);
                    }
                }
            }
        }
        let cx = StepCtx {
            prev: (!first).then_some(header.last),
            now,
            records,
            session_end: false,
            strings: &self.strings,
        };
        // Most steps wake no node (a record with none of the fields read, no deadline due).
        let timed_stepped = self.dirty.iter().any(|&m| m != 0)
            && Self::run(
                self.plan,
                &self.nodes,
                &self.inputs,
                &self.consts,
                &self.consumers,
                self.words_per_mask,
                self.values_len,
                &mut self.bufs,
                &mut self.emitted,
                &mut self.dirty,
                &mut self.stats,
                words,
                &mut queues,
                &cx,
            );
        if let (Some(keeper), false) = (&mut self.stats, records.is_empty()) {
            for &i in &self.record_sources {
                let counters = &mut keeper.stats.nodes[i];
                counters.steps += 1;
                counters.outputs += records.len() as u64;
            }
        }
        if timed_stepped {
            header.deadline = self
                .timed
                .iter()
                .map(|&i| words[self.nodes[i].deadline_word.expect("timed node")] as Time)
                .min()
                .unwrap_or(Time::MAX);
        }
        header.last = now;
        Ok(())
    }

    /// Ends the session at its last step's time: no node emits anything more, so the step
    /// buffers are emptied and digests see only the session's end.
    pub fn end(&mut self, session: &mut Session) {
        self.end_in(&mut session.header)
    }

    /// [`Interpreter::end`] on a session kept in parts.
    pub fn end_in(&mut self, header: &mut SessionHeader) {
        self.clear_emitted();
        if header.last != NEVER {
            header.deadline = ENDED;
        }
    }

    fn clear_emitted(&mut self) {
        for i in self.emitted.drain(..) {
            self.bufs[i as usize].clear();
        }
    }

    /// Replaces the dictionary by one holding only the strings still referenced: the plan's
    /// constants, and the symbols `live` reports (it must visit every open session and every
    /// event still waiting for its step). Returns the
    /// number of strings dropped.
    ///
    /// `live` gets the remap: [`StringRemap::session`] for every open session's state,
    /// [`StringRemap::sym`] for every other symbol kept (waiting events' fields).
    ///
    /// Streams with a high-cardinality string field would otherwise grow the dictionary for
    /// ever; callers compact when it has grown well past the strings in use (see
    /// [`Interpreter::strings_to_compact`]).
    pub fn compact_strings(&mut self, live: impl FnOnce(&mut StringRemap<'_>)) -> usize {
        self.clear_emitted();
        let old = std::mem::take(&mut self.strings);
        let mut remap = StringRemap {
            old: &old,
            new: Interner::new(),
            map: vec![Sym::MAX; old.len()],
            sym_words: self
                .nodes
                .iter()
                .filter(|n| n.value.codec == SlotCodec::Sym)
                .map(|n| n.value.word)
                .collect(),
        };
        for c in &mut self.consts {
            if let Val::Sym(s) = c {
                *s = remap.sym(*s);
            }
        }
        live(&mut remap);
        let dropped = old.len() - remap.new.len();
        self.strings = remap.new;
        dropped
    }

    /// Whether the dictionary holds more than `limit` strings, so a compaction may pay.
    pub fn strings_to_compact(&self, limit: usize) -> bool {
        self.strings.len() > limit
    }

    /// What node `index` emitted in the last step.
    pub fn output(&self, index: usize) -> &Buf {
        &self.bufs[index]
    }

    /// Node `index`'s current value in a session's word block (undefined for event nodes).
    pub fn value(&self, words: &[u64], index: usize) -> Val {
        self.nodes[index].value.load(words)
    }

    /// Node `index`'s value in a session's word block before the last step.
    pub fn value_before(&self, words: &[u64], index: usize) -> Val {
        let b = &self.bufs[index];
        if b.is_empty() {
            self.value(words, index)
        } else {
            b.before
        }
    }

    /// Steps the dirty nodes in plan (topological) order. Returns whether a time-driven node
    /// was stepped.
    #[allow(clippy::too_many_arguments)]
    #[inline]
    fn run(
        plan: &Plan<E>,
        nodes: &[NodeInfo],
        inputs: &[u32],
        consts: &[Val],
        consumers: &[u64],
        w: usize,
        values_len: usize,
        bufs: &mut [Buf],
        emitted: &mut Vec<u32>,
        dirty: &mut [u64],
        stats: &mut Option<StatsKeeper>,
        words: &mut [u64],
        queues: &mut Option<&mut [Queue]>,
        cx: &StepCtx<'_>,
    ) -> bool {
        let timed = match stats {
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
        let mut timed_stepped = false;
        for k in 0..w {
            while dirty[k] != 0 {
                let bit = dirty[k].trailing_zeros() as usize;
                dirty[k] &= dirty[k] - 1;
                let i = k * 64 + bit;
                let info = &nodes[i];
                let (before_bufs, rest) = bufs.split_at_mut(i);
                let out = &mut rest[0];
                let (values, extras) = words.split_at_mut(values_len);
                let own = &mut extras[info.extra_at - values_len..];
                let mut last = info.value.load(values);
                let mut io = Io {
                    cx,
                    inputs: Inputs {
                        bufs: before_bufs,
                        idx: &inputs[info.inputs.clone()],
                        nodes,
                        words: values,
                    },
                    out,
                    last: &mut last,
                    deadline: if info.deadline_word.is_some() {
                        own[info.extra] as Time
                    } else {
                        Time::MAX
                    },
                    words: &mut own[..info.extra],
                    queue: match (info.queue, queues.as_deref_mut()) {
                        (Some(q), Some(queues)) => Some(&mut queues[q]),
                        _ => None,
                    },
                    consts: &consts[info.consts.clone()],
                };
                let started = timed.then(std::time::Instant::now);
                plan.nodes[i].op.step(&mut io);
                let deadline = io.deadline;
                if info.deadline_word.is_some() {
                    own[info.extra] = deadline as u64;
                    timed_stepped = true;
                }
                info.value.store(values, last);
                let out = &rest[0];
                let emitted_any = !out.is_empty();
                if emitted_any {
                    emitted.push(i as u32);
                    let mask = &consumers[i * w..(i + 1) * w];
                    for (d, m) in dirty.iter_mut().zip(mask) {
                        *d |= m;
                    }
                }
                if let (Some(keeper), false) = (stats.as_mut(), info.wake == Wake::Records) {
                    let counters = &mut keeper.stats.nodes[i];
                    counters.steps += 1;
                    if emitted_any {
                        counters.outputs += item_count(info.ty, out) as u64;
                    }
                    if let Some(started) = started {
                        let nanos = started.elapsed().as_nanos().min(u64::MAX as u128) as u64;
                        keeper.stats.timings.push((i, nanos));
                    }
                }
            }
        }
        timed_stepped
    }
}

/// Items a buffer holds: records (the count `event_source` emits), events, or changes.
fn item_count(ty: TimelineType, out: &Buf) -> usize {
    match (ty.kind, ty.value) {
        (Kind::Event, ValueType::Record) => out
            .items
            .iter()
            .map(|(_, v)| match v {
                Val::F64(n) => *n as usize,
                _ => 1,
            })
            .sum(),
        _ => out.len(),
    }
}
