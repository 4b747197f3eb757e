//! Helpers to run one operator over hand-written input timelines and read back its whole output.
//! Used by the operators' unit tests and by the property tests. Times here are in **seconds**
//! to match the paper's examples; the engine runs in milliseconds underneath.

use crate::{AnyOperator, Operator};
use spanflow_engine::{
    build_plan, Buf, Current, Evaluate, Interner, Interpreter, Io, Layout, NodeDecl, Scalar,
    ScalarRef, Span, Time, TimelineType, TypeMismatch, Val, ValueType, Wake, OPEN_END,
};

/// A scripted input timeline.
#[derive(Clone, Debug)]
pub enum Series {
    /// State changes `(time_secs, value)`; the value holds until the next change.
    State(ValueType, Vec<(i64, Option<Scalar>)>),
    /// Events `(time_secs, value)`.
    Events(ValueType, Vec<(i64, Scalar)>),
    /// Numeric pieces `(time_secs, value_at_start, slope_per_sec)`.
    Numeric(Vec<(i64, f64, f64)>),
}

impl Series {
    /// String events.
    pub fn str_events(items: &[(i64, &str)]) -> Self {
        Series::Events(
            ValueType::Str,
            items
                .iter()
                .map(|(t, v)| (*t, Scalar::Str((*v).into())))
                .collect(),
        )
    }
    /// Boolean events.
    pub fn bool_events(items: &[(i64, bool)]) -> Self {
        Series::Events(
            ValueType::Bool,
            items.iter().map(|(t, v)| (*t, Scalar::Bool(*v))).collect(),
        )
    }
    /// Number events.
    pub fn f64_events(items: &[(i64, f64)]) -> Self {
        Series::Events(
            ValueType::F64,
            items.iter().map(|(t, v)| (*t, Scalar::F64(*v))).collect(),
        )
    }
    /// Boolean state.
    pub fn bool_state(items: &[(i64, bool)]) -> Self {
        Series::State(
            ValueType::Bool,
            items
                .iter()
                .map(|(t, v)| (*t, Some(Scalar::Bool(*v))))
                .collect(),
        )
    }
    /// Number state.
    pub fn f64_state(items: &[(i64, f64)]) -> Self {
        Series::State(
            ValueType::F64,
            items
                .iter()
                .map(|(t, v)| (*t, Some(Scalar::F64(*v))))
                .collect(),
        )
    }
    /// String state.
    pub fn str_state(items: &[(i64, &str)]) -> Self {
        Series::State(
            ValueType::Str,
            items
                .iter()
                .map(|(t, v)| (*t, Some(Scalar::Str((*v).into()))))
                .collect(),
        )
    }

    /// The series' type.
    pub fn ty(&self) -> TimelineType {
        match self {
            Series::State(v, _) => TimelineType::state(*v),
            Series::Events(v, _) => TimelineType::events(*v),
            Series::Numeric(_) => TimelineType::NUMERIC,
        }
    }

    /// The instants (seconds) at which the series has something.
    pub fn times(&self) -> Vec<i64> {
        match self {
            Series::State(_, items) => items.iter().map(|(t, _)| *t).collect(),
            Series::Events(_, items) => items.iter().map(|(t, _)| *t).collect(),
            Series::Numeric(items) => items.iter().map(|(t, _, _)| *t).collect(),
        }
    }
}

/// A test node: a scripted source or a real operator.
#[derive(Debug)]
pub enum Node {
    /// A scripted input, stepped every step.
    Source(Series),
    /// An operator.
    Op(AnyOperator),
}

impl Series {
    /// Interns the series' strings (done before a run: sources look them up while stepping).
    pub fn intern(&self, strings: &mut Interner) {
        let mut add = |v: &Scalar| {
            if let Scalar::Str(s) = v {
                strings.intern(s);
            }
        };
        match self {
            Series::State(_, items) => items
                .iter()
                .filter_map(|(_, v)| v.as_ref())
                .for_each(&mut add),
            Series::Events(_, items) => items.iter().for_each(|(_, v)| add(v)),
            Series::Numeric(_) => {}
        }
    }

    /// Emits the series' items of the step `io` runs (times in seconds, `(prev, now]`).
    pub fn step(&self, io: &mut Io<'_>) {
        let cx = io.cx;
        let in_step = |t: i64| {
            let ms = t * 1000;
            ms <= cx.now && cx.prev.is_none_or(|p| ms > p)
        };
        match self {
            Series::State(_, items) => {
                for (t, v) in items.iter().filter(|(t, _)| in_step(*t)) {
                    let v = v.as_ref().map_or(Val::Undef, |v| val_of(v, cx.strings));
                    io.out.push_state(io.last, t * 1000, v);
                }
            }
            Series::Events(_, items) => {
                for (t, v) in items.iter().filter(|(t, _)| in_step(*t)) {
                    io.out.push_event(t * 1000, val_of(v, cx.strings));
                }
            }
            Series::Numeric(items) => {
                for (t, v, slope) in items.iter().filter(|(t, _, _)| in_step(*t)) {
                    let line = spanflow_engine::Linear {
                        at_start: *v,
                        per_sec: *slope,
                    };
                    io.out.push_state(
                        io.last,
                        t * 1000,
                        Val::Lin {
                            start: t * 1000,
                            line,
                        },
                    );
                }
            }
        }
    }
}

/// A scalar as a value, its string looked up in `strings` (where it must have been interned).
pub fn val_of(v: &Scalar, strings: &Interner) -> Val {
    match v {
        Scalar::F64(x) => Val::F64(*x),
        Scalar::Bool(x) => Val::Bool(*x),
        Scalar::Str(s) => Val::Sym(
            strings
                .get(s)
                .unwrap_or_else(|| panic!("test string {s:?} was not interned")),
        ),
    }
}

impl Evaluate for Node {
    fn name(&self) -> &'static str {
        match self {
            Node::Source(_) => "source",
            Node::Op(op) => Operator::name(op),
        }
    }
    fn output_type(&self, inputs: &[TimelineType]) -> Result<TimelineType, TypeMismatch> {
        match self {
            Node::Source(s) => Ok(s.ty()),
            Node::Op(op) => Operator::output_type(op, inputs),
        }
    }
    fn layout(&self, inputs: &[TimelineType]) -> Layout {
        match self {
            Node::Source(_) => Layout {
                wake: Wake::Always,
                ..Layout::default()
            },
            Node::Op(op) => Operator::layout(op, inputs),
        }
    }
    fn constants(&self) -> Vec<Scalar> {
        match self {
            Node::Source(_) => Vec::new(),
            Node::Op(op) => Operator::constants(op),
        }
    }
    fn init(&self, words: &mut [u64]) {
        if let Node::Op(op) = self {
            Operator::init(op, words)
        }
    }
    fn step(&self, io: &mut Io<'_>) {
        match self {
            Node::Op(op) => Operator::step(op, io),
            Node::Source(series) => series.step(io),
        }
    }
}

/// The whole output of the operator under test.
#[derive(Clone, Debug, PartialEq)]
pub enum Output {
    /// State or numeric spans, in seconds; `None` end = open.
    State(Vec<(f64, Option<f64>, Current)>),
    /// Events `(time_secs, value)`.
    Events(Vec<(f64, Scalar)>),
}

impl Output {
    /// State spans as `(start, end, value)` with values as scalars evaluated at span start.
    pub fn spans(&self) -> Vec<(f64, Option<f64>, Option<Scalar>)> {
        match self {
            Output::State(s) => s
                .iter()
                .map(|(a, b, v)| {
                    (
                        *a,
                        *b,
                        v.scalar_at((*a * 1000.0) as Time).map(ScalarRef::to_owned),
                    )
                })
                .collect(),
            Output::Events(_) => panic!("output is events, not state"),
        }
    }

    /// Boolean state spans `(start, end, value)`; undefined spans are reported as `None`.
    pub fn bool_spans(&self) -> Vec<(f64, Option<f64>, Option<bool>)> {
        self.spans()
            .into_iter()
            .map(|(a, b, v)| (a, b, v.map(|v| matches!(v, Scalar::Bool(true)))))
            .collect()
    }

    /// The value at `t_secs` (state or numeric), `None` when undefined or before the start.
    pub fn value_at(&self, t_secs: f64) -> Option<Scalar> {
        let t = (t_secs * 1000.0).round() as Time;
        match self {
            Output::State(s) => s
                .iter()
                .rev()
                .find(|(a, _, _)| (*a * 1000.0).round() as Time <= t)
                .and_then(|(_, _, v)| v.scalar_at(t).map(ScalarRef::to_owned)),
            Output::Events(_) => panic!("output is events, not state"),
        }
    }

    /// Numeric value at `t_secs`, panicking when undefined.
    pub fn f64_at(&self, t_secs: f64) -> f64 {
        match self.value_at(t_secs) {
            Some(Scalar::F64(v)) => v,
            other => panic!("expected a number at {t_secs}, got {other:?}"),
        }
    }

    /// The events.
    pub fn events(&self) -> &[(f64, Scalar)] {
        match self {
            Output::Events(e) => e,
            Output::State(_) => panic!("output is state, not events"),
        }
    }
}

/// Runs `op` over `inputs`, stepping at every input time and at `extra_steps` (seconds), and
/// returns its whole output. Panics when the operator rejects the input types.
pub fn run(op: AnyOperator, inputs: Vec<Series>, extra_steps: &[i64]) -> Output {
    try_run(op, inputs, extra_steps).unwrap_or_else(|e| panic!("{e}"))
}

/// Like [`run`], returning the type error instead of panicking.
pub fn try_run(
    op: AnyOperator,
    inputs: Vec<Series>,
    extra_steps: &[i64],
) -> Result<Output, String> {
    let mut times: Vec<i64> = inputs
        .iter()
        .flat_map(Series::times)
        .chain(extra_steps.iter().copied())
        .collect();
    times.sort_unstable();
    times.dedup();
    let n = inputs.len();
    let mut strings = Interner::new();
    inputs.iter().for_each(|s| s.intern(&mut strings));
    let mut decls: Vec<NodeDecl<Node>> = inputs
        .into_iter()
        .enumerate()
        .map(|(i, s)| NodeDecl {
            id: format!("in{i}"),
            at: None,
            inputs: vec![],
            op: Node::Source(s),
        })
        .collect();
    decls.push(NodeDecl {
        id: "op".into(),
        at: None,
        inputs: (0..n).map(|i| (format!("in{i}"), None)).collect(),
        op: Node::Op(op),
    });
    let plan = build_plan(decls).map_err(|e| {
        e.iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; ")
    })?;
    let target = plan.index_of("op").expect("op node");
    let mut interp = Interpreter::with_strings(&plan, strings);
    let mut session = interp.open_session();
    let mut state: Vec<Span<Current>> = Vec::new();
    let mut events = Vec::new();
    let is_events = plan.nodes[target].ty.kind == spanflow_engine::Kind::Event;
    for t in times {
        interp
            .step(&mut session, t * 1000, &[])
            .map_err(|e| e.to_string())?;
        collect(
            interp.output(target),
            is_events,
            interp.strings(),
            &mut state,
            &mut events,
        );
    }
    interp.end(&mut session);
    let secs = |t: Time| t as f64 / 1000.0;
    Ok(if is_events {
        Output::Events(events.into_iter().map(|(t, v)| (secs(t), v)).collect())
    } else {
        Output::State(
            state
                .into_iter()
                .map(|s| {
                    (
                        secs(s.time.start),
                        (s.time.end != OPEN_END).then(|| secs(s.time.end)),
                        s.value,
                    )
                })
                .collect(),
        )
    })
}

fn collect(
    buf: &Buf,
    is_events: bool,
    strings: &Interner,
    state: &mut Vec<Span<Current>>,
    events: &mut Vec<(Time, Scalar)>,
) {
    if is_events {
        events.extend(buf.items.iter().filter_map(|&(t, v)| {
            Current::from_val(v, strings)
                .scalar_at(t)
                .map(|s| (t, s.to_owned()))
        }));
        return;
    }
    for &(start, v) in &buf.items {
        if let Some(prev) = state.last_mut() {
            prev.time.end = start;
        }
        state.push(Span::open(start, Current::from_val(v, strings)));
    }
}

/// Parses an operator from its `op` name and a YAML `with:` body, for tests.
pub fn op(name: &str, with_yaml: &str) -> AnyOperator {
    crate::spec::parse_operator(name, with_yaml)
        .unwrap_or_else(|e| panic!("bad test operator {name}: {e}"))
}
