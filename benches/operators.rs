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
    build_plan, Evaluate, Interner, Interpreter, Io, Layout, NodeDecl, Plan, Scalar, Time,
    TimelineType, TypeMismatch, Val, ValueType, Wake,
};
use spanflow_operators::testing::op;
use spanflow_operators::{AnyOperator, Operator};
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
    /// A scripted input and its values, strings interned.
    Source(Input, Vec<Option<Val>>),
    Op(AnyOperator),
}

/// Step `i` is at `i` seconds.
fn step_of(now: Time) -> usize {
    (now / 1000) as usize
}

impl Evaluate for Node {
    fn name(&self) -> &'static str {
        match self {
            Node::Source(..) => "source",
            Node::Op(op) => Operator::name(op),
        }
    }
    fn output_type(&self, inputs: &[TimelineType]) -> Result<TimelineType, TypeMismatch> {
        match self {
            Node::Source(s, _) => Ok(s.ty()),
            Node::Op(op) => Operator::output_type(op, inputs),
        }
    }
    fn layout(&self, inputs: &[TimelineType]) -> Layout {
        match self {
            Node::Source(..) => Layout {
                wake: Wake::Always,
                ..Layout::default()
            },
            Node::Op(op) => Operator::layout(op, inputs),
        }
    }
    fn constants(&self) -> Vec<Scalar> {
        match self {
            Node::Source(..) => Vec::new(),
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
            Node::Source(input, values) => {
                let now = io.cx.now;
                if let Some(v) = values[step_of(now)] {
                    match input {
                        Input::State(..) => io.out.push_state(io.last, now, v),
                        Input::Events(..) => io.out.push_event(now, v),
                    }
                }
            }
        }
    }
}

/// The plan `inputs → operator`.
fn plan(operator: Option<AnyOperator>, inputs: &[Input], strings: &mut Interner) -> Plan<Node> {
    let mut decls: Vec<NodeDecl<Node>> = inputs
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let (Input::State(_, values) | Input::Events(_, values)) = s;
            let values = values
                .iter()
                .map(|v| {
                    v.as_ref().map(|v| match v {
                        Scalar::F64(x) => Val::F64(*x),
                        Scalar::Bool(x) => Val::Bool(*x),
                        Scalar::Str(x) => Val::Sym(strings.intern(x)),
                    })
                })
                .collect();
            NodeDecl {
                id: format!("in{i}"),
                at: None,
                inputs: vec![],
                op: Node::Source(s.clone(), values),
            }
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
        let mut strings = Interner::new();
        let plan = plan(None, &inputs, &mut strings);
        let mut interp = Interpreter::with_strings(&plan, strings);
        group.bench_function("sources_only", |b| b.iter(|| run(&plan, &mut interp)));
    }
    for (name, op_name, with, inputs) in cases() {
        let mut strings = Interner::new();
        let plan = plan(Some(op(op_name, with)), &inputs, &mut strings);
        let mut interp = Interpreter::with_strings(&plan, strings);
        group.bench_function(name, |b| b.iter(|| run(&plan, &mut interp)));
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
