//! Helpers to run one operator over hand-written input timelines and read back its whole output.
//! Used by the operators' unit tests and by the property tests. Times here are in **seconds**
//! to match the paper's examples; the engine runs in milliseconds underneath.

use crate::{AnyOperator, NodeState, Operator};
use spanflow_engine::{
    build_plan, Current, Evaluate, Interpreter, NodeDecl, Scalar, ScalarRef, Span, StepCtx, Time,
    Timeline, TimelineType, TypeMismatch, ValueType, OPEN_END,
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

    fn ty(&self) -> TimelineType {
        match self {
            Series::State(v, _) => TimelineType::state(*v),
            Series::Events(v, _) => TimelineType::events(*v),
            Series::Numeric(_) => TimelineType::NUMERIC,
        }
    }

    fn times(&self) -> Vec<i64> {
        match self {
            Series::State(_, items) => items.iter().map(|(t, _)| *t).collect(),
            Series::Events(_, items) => items.iter().map(|(t, _)| *t).collect(),
            Series::Numeric(items) => items.iter().map(|(t, _, _)| *t).collect(),
        }
    }
}

/// A test node: a scripted source or a real operator.
#[derive(Debug)]
enum Node {
    Source(Series),
    Op(AnyOperator),
}

impl Evaluate for Node {
    type State = NodeState;
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
    fn init_state(&self) -> NodeState {
        match self {
            Node::Source(_) => NodeState::Last(Current::Undefined),
            Node::Op(op) => Operator::init_state(op),
        }
    }
    // Operators skip idle steps here as they do in the interpreter of real runs.
    fn idle_without_input(&self, state: &NodeState, numeric_input: bool, cx: &StepCtx<'_>) -> bool {
        match self {
            Node::Source(_) => false,
            Node::Op(op) => Operator::idle_without_input(op, state, numeric_input, cx),
        }
    }
    fn step(
        &self,
        state: &mut NodeState,
        inputs: &[&Timeline],
        cx: &StepCtx<'_>,
        out: &mut Timeline,
    ) {
        match self {
            Node::Op(op) => Operator::step(op, state, inputs, cx, out),
            Node::Source(series) => {
                let NodeState::Last(last) = state else {
                    unreachable!()
                };
                let in_step = |t: i64| {
                    let ms = t * 1000;
                    ms <= cx.now && cx.prev.is_none_or(|p| ms > p)
                };
                match series {
                    Series::State(_, items) => {
                        for (t, v) in items.iter().filter(|(t, _)| in_step(*t)) {
                            out.push_state(
                                last,
                                t * 1000,
                                Current::from_scalar(v.as_ref().map(Scalar::as_ref)),
                            );
                        }
                    }
                    Series::Events(_, items) => {
                        for (t, v) in items.iter().filter(|(t, _)| in_step(*t)) {
                            out.push_event(cx.from(), t * 1000, v.as_ref());
                        }
                    }
                    Series::Numeric(items) => {
                        for (t, v, slope) in items.iter().filter(|(t, _, _)| in_step(*t)) {
                            let line = spanflow_engine::Linear {
                                at_start: *v,
                                per_sec: *slope,
                            };
                            out.push_state(
                                last,
                                t * 1000,
                                Current::Linear {
                                    start: t * 1000,
                                    line,
                                },
                            );
                        }
                    }
                }
            }
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
    let mut interp = Interpreter::new(&plan);
    let mut session = interp.open_session();
    let mut state: Vec<Span<Current>> = Vec::new();
    let mut events = Vec::new();
    let is_events = plan.nodes[target].ty.kind == spanflow_engine::Kind::Event;
    for t in times {
        interp
            .step(&mut session, t * 1000, &[])
            .map_err(|e| e.to_string())?;
        collect(interp.output(target), &mut state, &mut events);
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

fn collect(tl: &Timeline, state: &mut Vec<Span<Current>>, events: &mut Vec<(Time, Scalar)>) {
    let mut push = |start: Time, v: Current| {
        if let Some(prev) = state.last_mut() {
            prev.time.end = start;
        }
        state.push(Span::open(start, v));
    };
    match tl {
        Timeline::StateF64(s) => s.iter().for_each(|s| {
            push(
                s.time.start,
                s.value.map_or(Current::Undefined, Current::F64),
            )
        }),
        Timeline::StateBool(s) => s.iter().for_each(|s| {
            push(
                s.time.start,
                s.value.map_or(Current::Undefined, Current::Bool),
            )
        }),
        Timeline::StateStr(s) => s.iter().for_each(|s| {
            push(
                s.time.start,
                s.value.clone().map_or(Current::Undefined, Current::Str),
            )
        }),
        Timeline::Numeric(s) => s.iter().for_each(|s| {
            push(
                s.time.start,
                s.value.map_or(Current::Undefined, |line| Current::Linear {
                    start: s.time.start,
                    line,
                }),
            )
        }),
        Timeline::EventF64(s) => s
            .iter()
            .for_each(|s| events.extend(s.value.iter().map(|v| (s.time.end, Scalar::F64(*v))))),
        Timeline::EventBool(s) => s
            .iter()
            .for_each(|s| events.extend(s.value.iter().map(|v| (s.time.end, Scalar::Bool(*v))))),
        Timeline::EventStr(s) => s.iter().for_each(|s| {
            events.extend(s.value.iter().map(|v| (s.time.end, Scalar::Str(v.clone()))))
        }),
        Timeline::Records(_) => {}
    }
}

/// Parses an operator from its `op` name and a YAML `with:` body, for tests.
pub fn op(name: &str, with_yaml: &str) -> AnyOperator {
    crate::spec::parse_operator(name, with_yaml)
        .unwrap_or_else(|e| panic!("bad test operator {name}: {e}"))
}
