//! Each operator alone, through the operator API: scripted input timelines of `STEPS` steps
//! (one per second), the operator stepped by the engine's interpreter as in a session, its
//! output left in the interpreter's reused buffers. Throughput counts steps.
//!
//! The driver is a copy of `spanflow_operators::testing`'s, without collecting the output, so
//! each measurement is the operator's step plus the scripted sources (the `sources_only`
//! benchmark measures those alone). `get`, `event_source` and `evaluate_at` work on records
//! and rows and are measured inside the whole DAG (`benches/dag.rs`).

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use spanflow_engine::{
    build_plan, Current, Evaluate, Interpreter, NodeDecl, Plan, Scalar, StepCtx, Time, Timeline,
    TimelineType, TypeMismatch, ValueType,
};
use spanflow_operators::testing::op;
use spanflow_operators::{AnyOperator, NodeState, Operator};
use std::hint::black_box;

/// Steps per benchmark iteration.
const STEPS: usize = 1_000;

/// A scripted input: one optional value per step.
#[derive(Clone, Debug)]
enum Input {
    /// A state changing to the value at the steps that have one.
    State(ValueType, Vec<Option<Scalar>>),
    /// Events at the steps that have one.
    Events(ValueType, Vec<Option<Scalar>>),
}

impl Input {
    fn ty(&self) -> TimelineType {
        match self {
            Input::State(v, _) => TimelineType::state(*v),
            Input::Events(v, _) => TimelineType::events(*v),
        }
    }
}

#[derive(Debug)]
enum Node {
    Source(Input),
    Op(AnyOperator),
}

/// Step `i` is at `i` seconds.
fn step_of(now: Time) -> usize {
    (now / 1000) as usize
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
            Node::Source(input) => {
                let NodeState::Last(last) = state else {
                    unreachable!("sources keep their last value")
                };
                match input {
                    Input::State(_, values) => {
                        if let Some(v) = &values[step_of(cx.now)] {
                            out.push_state(last, cx.now, Current::from_scalar(Some(v.as_ref())));
                        }
                    }
                    Input::Events(_, values) => {
                        if let Some(v) = &values[step_of(cx.now)] {
                            out.push_event(cx.from(), cx.now, v.as_ref());
                        }
                    }
                }
            }
        }
    }
}

/// The plan `inputs → operator`.
fn plan(operator: Option<AnyOperator>, inputs: &[Input]) -> Plan<Node> {
    let mut decls: Vec<NodeDecl<Node>> = inputs
        .iter()
        .enumerate()
        .map(|(i, s)| NodeDecl {
            id: format!("in{i}"),
            at: None,
            inputs: vec![],
            op: Node::Source(s.clone()),
        })
        .collect();
    if let Some(operator) = operator {
        decls.push(NodeDecl {
            id: "op".into(),
            at: None,
            inputs: (0..inputs.len())
                .map(|i| (format!("in{i}"), None))
                .collect(),
            op: Node::Op(operator),
        });
    }
    build_plan(decls).unwrap_or_else(|e| panic!("{e:?}"))
}

/// One session of `STEPS` steps through `plan`.
fn run(plan: &Plan<Node>, interp: &mut Interpreter<'_, Node>) {
    let mut session = interp.open_session();
    for i in 0..STEPS {
        interp
            .step(&mut session, (i * 1000) as Time, &[])
            .expect("in order");
        black_box(interp.output(plan.nodes.len() - 1));
    }
    interp.end(&mut session);
}

// Scripted inputs: changes at irregular steps, like heartbeats that mostly carry no change.
fn strs(every: usize) -> Vec<Option<Scalar>> {
    const V: [&str; 3] = ["buffer", "play", "pause"];
    (0..STEPS)
        .map(|i| (i % every == 0).then(|| Scalar::Str(V[(i / every) % 3].into())))
        .collect()
}
fn bools(every: usize) -> Vec<Option<Scalar>> {
    (0..STEPS)
        .map(|i| (i % every == 0).then_some(Scalar::Bool((i / every) % 3 != 1)))
        .collect()
}
fn nums(every: usize) -> Vec<Option<Scalar>> {
    (0..STEPS)
        .map(|i| (i % every == 0).then(|| Scalar::F64(((i * 7) % 13) as f64 - 4.0)))
        .collect()
}
fn str_state(every: usize) -> Input {
    Input::State(ValueType::Str, strs(every))
}
fn str_events(every: usize) -> Input {
    Input::Events(ValueType::Str, strs(every))
}
fn bool_state(every: usize) -> Input {
    Input::State(ValueType::Bool, bools(every))
}
fn bool_events(every: usize) -> Input {
    Input::Events(ValueType::Bool, bools(every))
}
fn num_state(every: usize) -> Input {
    Input::State(ValueType::F64, nums(every))
}
fn num_events(every: usize) -> Input {
    Input::Events(ValueType::F64, nums(every))
}

/// `(benchmark name, op, with:, inputs)` for every operator on timelines.
fn cases() -> Vec<(&'static str, &'static str, &'static str, Vec<Input>)> {
    vec![
        (
            "latest_event_to_state",
            "latest_event_to_state",
            "{}",
            vec![str_events(3)],
        ),
        (
            "state_change_events",
            "state_change_events",
            "{}",
            vec![str_state(3)],
        ),
        ("equals", "equals", "{ value: buffer }", vec![str_state(3)]),
        (
            "not_equals",
            "not_equals",
            "{ value: buffer }",
            vec![str_state(3)],
        ),
        (
            "greater_than",
            "greater_than",
            "{ value: 1 }",
            vec![num_state(2)],
        ),
        (
            "greater_or_equal",
            "greater_or_equal",
            "{ value: 1 }",
            vec![num_state(2)],
        ),
        ("less_than", "less_than", "{ value: 1 }", vec![num_state(2)]),
        (
            "less_or_equal",
            "less_or_equal",
            "{ value: 1 }",
            vec![num_state(2)],
        ),
        (
            "equals_two_inputs",
            "equals",
            "{}",
            vec![num_state(2), num_state(3)],
        ),
        (
            "in_set",
            "in_set",
            "{ values: [buffer, pause] }",
            vec![str_state(3)],
        ),
        (
            "and",
            "and",
            "{}",
            vec![bool_state(2), bool_state(3), bool_state(5)],
        ),
        ("or", "or", "{}", vec![bool_state(2), bool_state(3)]),
        ("not", "not", "{}", vec![bool_state(2)]),
        (
            "if",
            "if",
            "{}",
            vec![bool_state(3), num_state(2), num_state(5)],
        ),
        ("add", "add", "{}", vec![num_state(2), num_state(3)]),
        (
            "subtract",
            "subtract",
            "{}",
            vec![num_state(2), num_state(3)],
        ),
        (
            "multiply",
            "multiply",
            "{}",
            vec![num_state(2), num_state(3)],
        ),
        ("divide", "divide", "{}", vec![num_state(2), num_state(3)]),
        ("abs", "abs", "{}", vec![num_state(2)]),
        ("constant", "constant", "{ value: 1 }", vec![]),
        ("filter", "filter", "{}", vec![num_events(1), bool_state(4)]),
        ("has_existed", "has_existed", "{}", vec![bool_events(7)]),
        (
            "has_existed_within",
            "has_existed_within",
            "{ within_secs: 5 }",
            vec![bool_events(7)],
        ),
        (
            "duration_where",
            "duration_where",
            "{}",
            vec![bool_state(3)],
        ),
        (
            "duration_where_window",
            "duration_where",
            "{ window_secs: 60 }",
            vec![bool_state(3)],
        ),
        (
            "duration_in_cur_state",
            "duration_in_cur_state",
            "{}",
            vec![str_state(4)],
        ),
        ("count", "count", "{}", vec![str_events(2)]),
        ("prior_event", "prior_event", "{}", vec![num_events(2)]),
        (
            "cumulative_sum",
            "cumulative_sum",
            "{}",
            vec![num_events(2)],
        ),
    ]
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("operator");
    group.throughput(Throughput::Elements(STEPS as u64));
    {
        let inputs = vec![num_state(2), num_state(3)];
        let plan = plan(None, &inputs);
        let mut interp = Interpreter::new(&plan);
        group.bench_function("sources_only", |b| b.iter(|| run(&plan, &mut interp)));
    }
    for (name, op_name, with, inputs) in cases() {
        let plan = plan(Some(op(op_name, with)), &inputs);
        let mut interp = Interpreter::new(&plan);
        group.bench_function(name, |b| b.iter(|| run(&plan, &mut interp)));
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
