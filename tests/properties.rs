//! Property tests of the span semantics (timeline-framework.md §1–3, §7).
//!
//! 1. Every operator's output keeps the span invariants, checked both on the whole output
//!    (`testing::run`) and step by step on the raw buffers the interpreter hands downstream.
//! 2. Operator laws: double negation, commutativity, De Morgan, monotonicity, windows.
//! 3. A naive per-instant evaluator of the CIR and play-time specs that the span interpreter
//!    must agree with exactly on random sessions.
//!
//! Inputs use whole seconds, so every reference below only needs to look at whole seconds (and
//! the window edges) to be exact.

use proptest::prelude::*;
use proptest::strategy::Union;
use spanflow::pipeline::SessionProcessor;
use spanflow_engine::{
    build_plan, Buf, Current, FieldValue, Interner, Interpreter, Kind, NodeDecl, Record, Scalar,
    ScalarRef, Time, TimelineType, Val, ValueType, OPEN_END,
};
use spanflow_operators::evaluate_at::Row;
use spanflow_operators::testing::{self, op, Node, Output, Series};
use spanflow_operators::Program;
use std::collections::BTreeSet;
use std::sync::OnceLock;

// ---------------------------------------------------------------------------------------------
// A test DAG whose every node's per-step output is checked as it is produced.
// `testing::run` joins the steps' changes itself, so it cannot see a step that leaves a change
// out of order or repeats a value across steps; this harness can. Its nodes are
// `testing::Node`s: scripted sources, or operators reading earlier nodes.

fn series_times(s: &Series) -> Vec<i64> {
    s.times()
}

/// Everything one node emitted over a run, and every invariant a step of it broke.
#[derive(Debug, Default)]
struct Trace {
    /// State and numeric spans `(start, end, value)` in ms, joined across steps.
    spans: Vec<(Time, Time, Current)>,
    /// Events `(instant, value)` in ms.
    events: Vec<(Time, Scalar)>,
    /// Broken invariants, described.
    problems: Vec<String>,
}

impl Trace {
    /// The value at `t` ms: the last span starting at or before `t`, evaluated at `t`.
    fn value_at(&self, t: Time) -> Option<Scalar> {
        self.spans
            .iter()
            .rev()
            .find(|(s, _, _)| *s <= t)
            .and_then(|(_, _, v)| v.scalar_at(t).map(ScalarRef::to_owned))
    }
}

/// Runs a DAG (`(node, input indices)`, inputs before consumers) at every source time and at
/// `extra_steps` (seconds). Returns one trace per node and the step times (ms).
fn run_graph(nodes: Vec<(Node, Vec<usize>)>, extra_steps: &[i64]) -> (Vec<Trace>, Vec<Time>) {
    let mut steps: Vec<Time> = nodes
        .iter()
        .filter_map(|(n, _)| match n {
            Node::Source(s) => Some(series_times(s)),
            Node::Op(_) => None,
        })
        .flatten()
        .chain(extra_steps.iter().copied())
        .map(|t| t * 1000)
        .collect();
    steps.sort_unstable();
    steps.dedup();
    let n = nodes.len();
    let decls = nodes
        .into_iter()
        .enumerate()
        .map(|(i, (op, inputs))| NodeDecl {
            id: format!("n{i}"),
            at: None,
            inputs: inputs.iter().map(|j| (format!("n{j}"), None)).collect(),
            op,
        })
        .collect();
    let plan = build_plan(decls).unwrap_or_else(|e| panic!("test DAG rejected: {e:?}"));
    let index: Vec<usize> = (0..n)
        .map(|i| plan.index_of(&format!("n{i}")).expect("node"))
        .collect();
    let mut strings = Interner::new();
    for node in &plan.nodes {
        if let Node::Source(s) = &node.op {
            s.intern(&mut strings);
        }
    }
    let mut interp = Interpreter::with_strings(&plan, strings);
    let mut session = interp.open_session();
    let mut traces: Vec<Trace> = (0..n).map(|_| Trace::default()).collect();
    let mut prev = None;
    for &now in &steps {
        interp
            .step(&mut session, now, &[])
            .expect("steps move forward");
        for (trace, &i) in traces.iter_mut().zip(&index) {
            let ty = plan.nodes[i].ty;
            record_step(interp.output(i), ty, interp.strings(), prev, now, trace);
        }
        prev = Some(now);
    }
    (traces, steps)
}

/// A state buffer's changes as spans `(start, end, value)`, the last one open.
fn state_spans(buf: &Buf, strings: &Interner) -> Vec<(Time, Time, Current)> {
    let items = &buf.items;
    items
        .iter()
        .enumerate()
        .map(|(i, &(start, v))| {
            let end = items.get(i + 1).map_or(OPEN_END, |n| n.0);
            (start, end, Current::from_val(v, strings))
        })
        .collect()
}

/// An event buffer's events grouped by instant, each group as a span from the previous instant
/// (or the step's start) to its own.
fn event_spans(buf: &Buf, strings: &Interner, from: Time) -> Vec<(Time, Time, Vec<Scalar>)> {
    let mut spans: Vec<(Time, Time, Vec<Scalar>)> = Vec::new();
    for &(t, v) in &buf.items {
        let value = Current::from_val(v, strings)
            .scalar_at(t)
            .map(ScalarRef::to_owned);
        match spans.last_mut() {
            Some(s) if s.1 == t => s.2.extend(value),
            last => {
                let start = last.map_or(from.min(t), |s| s.1);
                spans.push((start, t, value.into_iter().collect()));
            }
        }
    }
    spans
}

/// Checks one step's output of a node against the span invariants and appends it to `trace`.
///
/// State/numeric: spans start inside the step `(prev, now]` (at `now` on the first step), in
/// increasing order; each ends where the next starts and the last is open; none continues the
/// value before it (for numeric pieces: is not the same line), and the first span of the session
/// is not undefined (the timeline is undefined before it anyway).
/// Events: each span ends at an instant inside the step, carries at least one event, and the
/// spans tile the step from `prev` without overlapping earlier ones.
fn record_step(
    buf: &Buf,
    ty: TimelineType,
    strings: &Interner,
    prev: Option<Time>,
    now: Time,
    trace: &mut Trace,
) {
    let lo = prev.map_or(now, |p| p + 1);
    let step = format!("step ({prev:?}, {now}]");
    if ty.kind != Kind::Event {
        let spans = state_spans(buf, strings);
        let mut before = trace
            .spans
            .last()
            .map_or(Current::Undefined, |s| s.2.clone());
        // Consumers read an input's value before the step from its buffer.
        if !spans.is_empty() && Current::from_val(buf.before, strings) != before {
            trace.problems.push(format!(
                "{step}: the buffer says the value before the step was {:?}, not {before:?}",
                buf.before
            ));
        }
        let mut before_start = trace.spans.last().map(|s| s.0);
        for (i, (start, end, v)) in spans.iter().enumerate() {
            if *start < lo || *start > now {
                trace.problems.push(format!(
                    "{step}: span starting at {start} lies outside the step"
                ));
            }
            if before_start.is_some_and(|b| *start <= b) {
                trace.problems.push(format!(
                    "{step}: span at {start} does not start after the previous one"
                ));
            }
            let want_end = spans.get(i + 1).map_or(OPEN_END, |n| n.0);
            if *end != want_end {
                trace.problems.push(format!(
                    "{step}: span at {start} ends at {end}, expected {want_end}"
                ));
            }
            if before.continues_as(*start, v) {
                trace.problems.push(format!(
                    "{step}: span at {start} repeats the value before it: {v:?}"
                ));
            }
            before = v.clone();
            before_start = Some(*start);
        }
        for (start, _, v) in spans {
            if let Some(last) = trace.spans.last_mut() {
                last.1 = start;
            }
            trace.spans.push((start, OPEN_END, v));
        }
        return;
    }
    let spans = event_spans(buf, strings, prev.unwrap_or(now));
    let mut expected_start = prev.unwrap_or(now);
    for (start, end, events) in spans {
        if events.is_empty() {
            trace
                .problems
                .push(format!("{step}: event span ending at {end} has no events"));
        }
        if end < lo || end > now {
            trace
                .problems
                .push(format!("{step}: events at {end} lie outside the step"));
        }
        if start != expected_start || start > end {
            trace.problems.push(format!(
                "{step}: event span [{start}, {end}) should start at {expected_start}"
            ));
        }
        if trace.events.last().is_some_and(|(t, _)| *t >= end) {
            trace.problems.push(format!(
                "{step}: events at {end} are not after the previous events"
            ));
        }
        expected_start = end;
        trace.events.extend(events.into_iter().map(|v| (end, v)));
    }
}

/// Checks the whole output of `testing::run`: state spans sorted, contiguous, open at the end,
/// coalesced, inside the stepped range `[lo, hi]` (seconds); events sorted and inside it.
fn check_whole(out: &Output, lo: f64, hi: f64) -> Result<(), String> {
    match out {
        Output::State(spans) => {
            let mut before = Current::Undefined;
            for (i, (start, end, v)) in spans.iter().enumerate() {
                if *start < lo || *start > hi {
                    return Err(format!("span at {start} outside [{lo}, {hi}]"));
                }
                let next = spans.get(i + 1).map(|n| n.0);
                if *end != next {
                    return Err(format!(
                        "span at {start} ends at {end:?}, the next starts at {next:?}"
                    ));
                }
                if next.is_some_and(|n| n <= *start) {
                    return Err(format!("spans at {start} and {next:?} are not sorted"));
                }
                if before.continues_as((start * 1000.0).round() as Time, v) {
                    return Err(format!("span at {start} repeats the previous value {v:?}"));
                }
                before = v.clone();
            }
        }
        Output::Events(events) => {
            if let Some((t, _)) = events.iter().find(|(t, _)| *t < lo || *t > hi) {
                return Err(format!("event at {t} outside [{lo}, {hi}]"));
            }
            if events.windows(2).any(|w| w[1].0 < w[0].0) {
                return Err(format!("events not sorted: {events:?}"));
            }
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Random inputs: whole seconds in a small range, values from small pools so that equal values,
// zero divisors, threshold crossings and same-instant events all happen often.

const T_MAX: i64 = 12;
const STRS: [&str; 3] = ["a", "b", "c"];
const NUMS: [f64; 6] = [-2.0, -1.0, 0.0, 0.5, 1.0, 3.0];

fn scalar(vt: ValueType) -> BoxedStrategy<Scalar> {
    match vt {
        ValueType::F64 => prop::sample::select(NUMS.to_vec())
            .prop_map(Scalar::F64)
            .boxed(),
        ValueType::Bool => any::<bool>().prop_map(Scalar::Bool).boxed(),
        _ => prop::sample::select(STRS.to_vec())
            .prop_map(|s| Scalar::Str(s.into()))
            .boxed(),
    }
}

/// Events at sorted times, several possibly at one instant.
fn events(vt: ValueType) -> BoxedStrategy<Series> {
    prop::collection::vec((0..=T_MAX, scalar(vt)), 0..8)
        .prop_map(move |mut v| {
            v.sort_by_key(|(t, _)| *t);
            Series::Events(vt, v)
        })
        .boxed()
}

/// State changes at distinct times; with `undefined`, some changes are to "no value".
fn state(vt: ValueType, undefined: bool) -> BoxedStrategy<Series> {
    let value = if undefined {
        prop_oneof![4 => scalar(vt).prop_map(Some), 1 => Just(None)].boxed()
    } else {
        scalar(vt).prop_map(Some).boxed()
    };
    prop::collection::btree_map(0..=T_MAX, value, 0..8)
        .prop_map(move |m| Series::State(vt, m.into_iter().collect()))
        .boxed()
}

/// Piecewise-linear numbers; slopes of 3 put threshold crossings between milliseconds.
fn numeric() -> BoxedStrategy<Series> {
    let piece = (
        -3i32..=3,
        prop::sample::select(vec![-1.0, -0.5, 0.0, 1.0, 2.0, 3.0]),
    );
    prop::collection::btree_map(0..=T_MAX, piece, 0..6)
        .prop_map(|m| {
            Series::Numeric(
                m.into_iter()
                    .map(|(t, (v, s))| (t, f64::from(v), s))
                    .collect(),
            )
        })
        .boxed()
}

/// Any number timeline: f64 state, f64 events or numeric.
fn number() -> BoxedStrategy<Series> {
    prop_oneof![
        state(ValueType::F64, true),
        events(ValueType::F64),
        numeric()
    ]
    .boxed()
}

fn bool_any() -> BoxedStrategy<Series> {
    prop_oneof![state(ValueType::Bool, true), events(ValueType::Bool)].boxed()
}

fn any_vt() -> impl Strategy<Value = ValueType> {
    prop::sample::select(vec![ValueType::F64, ValueType::Bool, ValueType::Str])
}

fn extra_steps() -> impl Strategy<Value = Vec<i64>> {
    prop::collection::btree_set(0..=T_MAX + 8, 0..4).prop_map(|s| s.into_iter().collect())
}

/// One operator of the catalogue with well-typed random inputs.
#[derive(Clone, Debug)]
struct Case {
    op: &'static str,
    with: String,
    inputs: Vec<Series>,
}

fn case(op: &'static str, with: impl Into<String>, inputs: Vec<Series>) -> Case {
    Case {
        op,
        with: with.into(),
        inputs,
    }
}

const COMPARISONS: [&str; 6] = [
    "equals",
    "not_equals",
    "greater_than",
    "greater_or_equal",
    "less_than",
    "less_or_equal",
];

/// Every operator of the catalogue (but `event_source`/`get`, which read records: covered by
/// the reference tests), with each input shape it accepts.
fn catalogue() -> BoxedStrategy<Case> {
    use ValueType::{Bool, Str, F64};
    let windows = || prop::sample::select(vec![0.5, 1.0, 2.5, 4.0]);
    let mut cases: Vec<BoxedStrategy<Case>> = vec![
        any_vt()
            .prop_flat_map(events)
            .prop_map(|s| case("latest_event_to_state", "", vec![s]))
            .boxed(),
        any_vt()
            .prop_flat_map(|vt| state(vt, true))
            .prop_map(|s| case("state_change_events", "", vec![s]))
            .boxed(),
        prop_oneof![state(Str, true), events(Str)]
            .prop_map(|s| case("in_set", "values: [a, c]", vec![s]))
            .boxed(),
        number()
            .prop_map(|s| case("in_set", "values: [0, 0.5]", vec![s]))
            .boxed(),
        prop::collection::vec(state(Bool, true), 2..4)
            .prop_map(|v| case("and", "", v))
            .boxed(),
        prop::collection::vec(state(Bool, true), 2..4)
            .prop_map(|v| case("or", "", v))
            .boxed(),
        (events(Bool), state(Bool, true))
            .prop_map(|(a, b)| case("and", "", vec![a, b]))
            .boxed(),
        (state(Bool, true), events(Bool))
            .prop_map(|(a, b)| case("or", "", vec![a, b]))
            .boxed(),
        bool_any().prop_map(|s| case("not", "", vec![s])).boxed(),
        (
            bool_any(),
            state(F64, true),
            prop_oneof![state(F64, true), numeric()],
        )
            .prop_map(|(c, a, b)| case("if", "", vec![c, a, b]))
            .boxed(),
        (state(Bool, true), state(Str, true), state(Str, true))
            .prop_map(|(c, a, b)| case("if", "", vec![c, a, b]))
            .boxed(),
        (state(Bool, true), numeric(), numeric())
            .prop_map(|(c, a, b)| case("if", "", vec![c, a, b]))
            .boxed(),
        // Arithmetic: at most one event input, at most one numeric factor, no numeric divisor.
        (number(), state(F64, true))
            .prop_map(|(a, b)| case("add", "", vec![a, b]))
            .boxed(),
        (numeric(), numeric(), prop::sample::select(NUMS.to_vec()))
            .prop_map(|(a, b, c)| case("add", format!("value: {c}"), vec![a, b]))
            .boxed(),
        (number(), state(F64, true))
            .prop_map(|(a, b)| case("subtract", "", vec![a, b]))
            .boxed(),
        (state(F64, true), numeric())
            .prop_map(|(a, b)| case("subtract", "", vec![a, b]))
            .boxed(),
        (number(), prop::sample::select(NUMS.to_vec()))
            .prop_map(|(a, c)| case("subtract", format!("value: {c}"), vec![a]))
            .boxed(),
        (number(), state(F64, true))
            .prop_map(|(a, b)| case("multiply", "", vec![a, b]))
            .boxed(),
        (number(), prop::sample::select(NUMS.to_vec()))
            .prop_map(|(a, c)| case("multiply", format!("value: {c}"), vec![a]))
            .boxed(),
        (number(), state(F64, true))
            .prop_map(|(a, b)| case("divide", "", vec![a, b]))
            .boxed(),
        (number(), prop::sample::select(NUMS.to_vec()))
            .prop_map(|(a, c)| case("divide", format!("value: {c}"), vec![a]))
            .boxed(),
        prop_oneof![Just("value: 3"), Just("value: x"), Just("value: true")]
            .prop_map(|w| case("constant", w, vec![]))
            .boxed(),
        number().prop_map(|s| case("abs", "", vec![s])).boxed(),
        (events(F64), bool_any())
            .prop_map(|(a, c)| case("filter", "", vec![a, c]))
            .boxed(),
        (
            prop_oneof![state(Str, true), numeric(), state(F64, true)],
            state(Bool, true),
        )
            .prop_map(|(a, c)| case("filter", "", vec![a, c]))
            .boxed(),
        bool_any()
            .prop_map(|s| case("has_existed", "", vec![s]))
            .boxed(),
        (bool_any(), windows())
            .prop_map(|(s, d)| case("has_existed_within", format!("within_secs: {d}"), vec![s]))
            .boxed(),
        state(Bool, true)
            .prop_map(|s| case("duration_where", "", vec![s]))
            .boxed(),
        (state(Bool, true), windows())
            .prop_map(|(s, w)| case("duration_where", format!("window_secs: {w}"), vec![s]))
            .boxed(),
        any_vt()
            .prop_flat_map(|vt| state(vt, true))
            .prop_map(|s| case("duration_in_cur_state", "", vec![s]))
            .boxed(),
        any_vt()
            .prop_flat_map(|vt| prop_oneof![events(vt), state(vt, true)])
            .prop_map(|s| case("count", "", vec![s]))
            .boxed(),
        (prop_oneof![events(Str), events(F64)], 1usize..=3)
            .prop_map(|(s, k)| case("prior_event", format!("offset: {k}"), vec![s]))
            .boxed(),
        (events(Str), 1usize..=3)
            .prop_map(|(s, k)| {
                case(
                    "prior_event",
                    format!("offset: {k}\ninitial_value: z"),
                    vec![s],
                )
            })
            .boxed(),
        events(F64)
            .prop_map(|s| case("cumulative_sum", "", vec![s]))
            .boxed(),
    ];
    for name in COMPARISONS {
        cases.push(
            (number(), prop::sample::select(NUMS.to_vec()))
                .prop_map(move |(s, c)| case(name, format!("value: {c}"), vec![s]))
                .boxed(),
        );
        cases.push(
            (
                prop_oneof![state(Str, true), events(Str)],
                prop::sample::select(STRS.to_vec()),
            )
                .prop_map(move |(s, c)| case(name, format!("value: {c}"), vec![s]))
                .boxed(),
        );
        cases.push(
            prop_oneof![
                (state(F64, true), state(F64, true)),
                (numeric(), state(F64, true)),
                (numeric(), numeric()),
                (events(F64), state(F64, true)),
                (numeric(), events(F64)),
                (state(Str, true), state(Str, true)),
            ]
            .prop_map(move |(a, b)| case(name, "", vec![a, b]))
            .boxed(),
        );
    }
    for name in ["equals", "not_equals"] {
        cases.push(
            (bool_any(), any::<bool>())
                .prop_map(move |(s, c)| case(name, format!("value: {c}"), vec![s]))
                .boxed(),
        );
    }
    Union::new(cases).boxed()
}

/// The first and last step of a `testing::run` over these inputs, in seconds.
fn step_range(inputs: &[Series], extra: &[i64]) -> Option<(f64, f64)> {
    let times: Vec<i64> = inputs
        .iter()
        .flat_map(series_times)
        .chain(extra.iter().copied())
        .collect();
    Some((*times.iter().min()? as f64, *times.iter().max()? as f64))
}

/// `cases` cases, without regression files: counterexamples found so far are pinned as plain
/// tests at the end of this module instead.
fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

fn sources(inputs: &[Series]) -> Vec<(Node, Vec<usize>)> {
    inputs
        .iter()
        .map(|s| (Node::Source(s.clone()), vec![]))
        .collect()
}

proptest! {
    #![proptest_config(config(1024))]

    /// Span invariants of each operator's output, on the whole output and on every step.
    #[test]
    fn every_operator_keeps_the_span_invariants(c in catalogue(), extra in extra_steps()) {
        let out = testing::run(op(c.op, &c.with), c.inputs.clone(), &extra);
        if let Some((lo, hi)) = step_range(&c.inputs, &extra) {
            check_whole(&out, lo, hi).map_err(|e| TestCaseError::fail(format!("{}: {e}\n{out:?}", c.op)))?;
        }
        let n = c.inputs.len();
        let mut nodes = sources(&c.inputs);
        nodes.push((Node::Op(op(c.op, &c.with)), (0..n).collect()));
        let (traces, _) = run_graph(nodes, &extra);
        prop_assert!(traces[n].problems.is_empty(), "{}:\n{}", c.op, traces[n].problems.join("\n"));
    }
}

/// Two operators in a row, the second reading spans the first emits in the middle of a step
/// (window ends, threshold crossings), which a single operator over scripted inputs never sees.
#[derive(Clone, Debug)]
struct Chain {
    input: Series,
    first: (&'static str, String),
    second: (&'static str, String),
}

fn chains() -> impl Strategy<Value = Chain> {
    let windows = || prop::sample::select(vec![1.0, 2.5, 4.0]);
    let after_bool = prop_oneof![
        windows().prop_map(|w| ("duration_where", format!("window_secs: {w}"))),
        prop::sample::select(vec![
            "state_change_events",
            "duration_in_cur_state",
            "count",
            "not"
        ])
        .prop_map(|n| (n, String::new())),
        Just(("equals", "value: true".to_string())),
    ];
    let after_number = prop_oneof![
        (
            prop::sample::select(vec!["greater_than", "less_or_equal", "equals", "subtract"]),
            prop::sample::select(vec![0.5, 1.0, 2.0, 3.0]),
        )
            .prop_map(|(n, c)| (n, format!("value: {c}"))),
        Just(("abs", String::new())),
    ]
    .boxed();
    prop_oneof![
        (bool_any(), windows(), after_bool).prop_map(|(input, d, second)| Chain {
            input,
            first: ("has_existed_within", format!("within_secs: {d}")),
            second
        }),
        (
            bool_state_undef(),
            prop::option::of(windows()),
            after_number.clone()
        )
            .prop_map(|(input, w, second)| Chain {
                input,
                first: (
                    "duration_where",
                    w.map(|w| format!("window_secs: {w}")).unwrap_or_default()
                ),
                second
            }),
        (bool_state_undef(), after_number).prop_map(|(input, second)| Chain {
            input,
            first: ("duration_in_cur_state", String::new()),
            second
        }),
    ]
}

proptest! {
    #![proptest_config(config(512))]

    /// Span invariants of both operators of a chain, on every step.
    #[test]
    fn chained_operators_keep_the_span_invariants(c in chains(), extra in extra_steps()) {
        let nodes = vec![
            (Node::Source(c.input.clone()), vec![]),
            (Node::Op(op(c.first.0, &c.first.1)), vec![0]),
            (Node::Op(op(c.second.0, &c.second.1)), vec![1]),
        ];
        let (traces, _) = run_graph(nodes, &extra);
        for (i, t) in traces.iter().enumerate().skip(1) {
            prop_assert!(t.problems.is_empty(), "node {i}:\n{}", t.problems.join("\n"));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Operator laws.

/// Instants (ms) at which two piecewise-linear outputs must agree for them to be equal on
/// `[lo, hi]`: every boundary and the midpoint between consecutive boundaries.
fn sample_points(boundaries: impl IntoIterator<Item = Time>, lo: Time, hi: Time) -> Vec<Time> {
    let mut b: BTreeSet<Time> = boundaries
        .into_iter()
        .filter(|t| (lo..=hi).contains(t))
        .collect();
    b.insert(lo);
    b.insert(hi);
    let mids: Vec<Time> = b
        .iter()
        .zip(b.iter().skip(1))
        .map(|(a, c)| (a + c) / 2)
        .collect();
    b.extend(mids);
    b.into_iter().collect()
}

fn span_starts(traces: &[&Trace]) -> Vec<Time> {
    traces
        .iter()
        .flat_map(|t| t.spans.iter().map(|s| s.0))
        .collect()
}

fn state_items(s: &Series) -> &[(i64, Option<Scalar>)] {
    match s {
        Series::State(_, items) => items,
        _ => panic!("not a state series"),
    }
}

fn event_items(s: &Series) -> &[(i64, Scalar)] {
    match s {
        Series::Events(_, items) => items,
        _ => panic!("not an event series"),
    }
}

/// Seconds during which a scripted boolean state is true within `[a, b)` (ms).
fn true_secs(items: &[(i64, Option<Scalar>)], a: Time, b: Time) -> f64 {
    let mut ms = 0;
    for (i, (t, v)) in items.iter().enumerate() {
        if *v == Some(Scalar::Bool(true)) {
            let end = items.get(i + 1).map_or(Time::MAX, |n| n.0 * 1000);
            ms += (end.min(b) - (t * 1000).max(a)).max(0);
        }
    }
    ms as f64 / 1000.0
}

fn secs(ms: Time) -> f64 {
    ms as f64 / 1000.0
}

/// Output spans of `testing::run`, as (start ms, value).
fn starts_ms(out: &Output) -> Vec<Time> {
    match out {
        Output::State(s) => s
            .iter()
            .map(|(a, _, _)| (a * 1000.0).round() as Time)
            .collect(),
        Output::Events(_) => Vec::new(),
    }
}

fn bool_state_undef() -> BoxedStrategy<Series> {
    state(ValueType::Bool, true)
}

proptest! {
    #![proptest_config(config(256))]

    /// not(not(x)) == x, undefined included, for states and events.
    #[test]
    fn double_negation_is_identity(x in bool_any(), extra in extra_steps()) {
        let nodes = vec![
            (Node::Source(x.clone()), vec![]),
            (Node::Op(op("not", "")), vec![0]),
            (Node::Op(op("not", "")), vec![1]),
        ];
        let (tr, steps) = run_graph(nodes, &extra);
        if matches!(x, Series::Events(..)) {
            prop_assert_eq!(&tr[2].events, &tr[0].events);
        } else if let (Some(&lo), Some(&hi)) = (steps.first(), steps.last()) {
            for t in sample_points(span_starts(&[&tr[0], &tr[2]]), lo, hi + 1000) {
                prop_assert_eq!(tr[2].value_at(t), tr[0].value_at(t), "at {}", t);
            }
        }
    }

    /// and/or are commutative: the same spans (or events) whatever the input order.
    #[test]
    fn and_or_commute(
        a in bool_state_undef(),
        b in prop_oneof![bool_state_undef(), events(ValueType::Bool)],
        extra in extra_steps(),
    ) {
        for name in ["and", "or"] {
            let nodes = vec![
                (Node::Source(a.clone()), vec![]),
                (Node::Source(b.clone()), vec![]),
                (Node::Op(op(name, "")), vec![0, 1]),
                (Node::Op(op(name, "")), vec![1, 0]),
            ];
            let (tr, _) = run_graph(nodes, &extra);
            prop_assert_eq!(&tr[2].spans, &tr[3].spans, "{}", name);
            prop_assert_eq!(&tr[2].events, &tr[3].events, "{}", name);
        }
    }

    /// De Morgan, wherever both inputs are defined: not(a and b) == (not a) or (not b), and
    /// not(a or b) == (not a) and (not b). (Where one is undefined the laws need not hold:
    /// undefined is false for and/or but stays undefined under not.)
    #[test]
    fn de_morgan_where_defined(a in bool_state_undef(), b in bool_state_undef(), extra in extra_steps()) {
        for (outer, inner) in [("and", "or"), ("or", "and")] {
            let nodes = vec![
                (Node::Source(a.clone()), vec![]),
                (Node::Source(b.clone()), vec![]),
                (Node::Op(op(outer, "")), vec![0, 1]),
                (Node::Op(op("not", "")), vec![2]),
                (Node::Op(op("not", "")), vec![0]),
                (Node::Op(op("not", "")), vec![1]),
                (Node::Op(op(inner, "")), vec![4, 5]),
            ];
            let (tr, steps) = run_graph(nodes, &extra);
            let (Some(&lo), Some(&hi)) = (steps.first(), steps.last()) else { continue };
            let refs: Vec<&Trace> = tr.iter().collect();
            for t in sample_points(span_starts(&refs), lo, hi + 1000) {
                if tr[0].value_at(t).is_some() && tr[1].value_at(t).is_some() {
                    prop_assert_eq!(tr[3].value_at(t), tr[6].value_at(t), "not({}) at {}", outer, t);
                }
            }
        }
    }

    /// duration_where is continuous, non-decreasing with slope 0 or 1, and equals the time the
    /// input has been true so far.
    #[test]
    fn duration_where_accumulates_true_time(x in bool_state_undef(), extra in extra_steps()) {
        let out = testing::run(op("duration_where", ""), vec![x.clone()], &extra);
        let Output::State(pieces) = &out else { unreachable!() };
        for (i, (start, _, v)) in pieces.iter().enumerate() {
            let Current::Linear { line, .. } = v else { panic!("undefined piece at {start}: {out:?}") };
            prop_assert!(line.per_sec == 0.0 || line.per_sec == 1.0, "slope {} at {}", line.per_sec, start);
            if i == 0 {
                prop_assert_eq!(line.at_start, 0.0);
            } else {
                let before = pieces[i - 1].2.scalar_at((start * 1000.0).round() as Time);
                prop_assert_eq!(before, Some(ScalarRef::F64(line.at_start)), "jump at {}", start);
            }
        }
        let Some((lo, hi)) = step_range(std::slice::from_ref(&x), &extra) else { return Ok(()) };
        let items = state_items(&x);
        for t in sample_points(starts_ms(&out), (lo * 1000.0) as Time, (hi * 1000.0) as Time + 1000) {
            let want = true_secs(items, Time::MIN, t);
            prop_assert!((out.f64_at(secs(t)) - want).abs() < 1e-9, "at {}: {} != {}", t, out.f64_at(secs(t)), want);
        }
    }

    /// duration_where over a window W stays in [0, W], moves with slope -1, 0 or 1, and equals
    /// the true time within the last W seconds, at every instant up to the last step.
    #[test]
    fn windowed_duration_where_counts_the_trailing_window(
        x in bool_state_undef(),
        w in prop::sample::select(vec![1.0, 2.5, 5.0]),
        extra in extra_steps(),
    ) {
        let out = testing::run(op("duration_where", &format!("window_secs: {w}")), vec![x.clone()], &extra);
        let Some((lo, hi)) = step_range(std::slice::from_ref(&x), &extra) else { return Ok(()) };
        let Output::State(pieces) = &out else { unreachable!() };
        for (start, _, v) in pieces {
            let Current::Linear { line, .. } = v else { panic!("undefined piece at {start}") };
            prop_assert!([-1.0, 0.0, 1.0].contains(&line.per_sec), "slope {} at {}", line.per_sec, start);
        }
        let w_ms = (w * 1000.0) as Time;
        let items = state_items(&x);
        let points = sample_points(
            starts_ms(&out).into_iter().chain(items.iter().map(|(t, _)| t * 1000 + w_ms)),
            (lo * 1000.0) as Time,
            (hi * 1000.0) as Time,
        );
        for t in points {
            let got = out.f64_at(secs(t));
            prop_assert!((-1e-9..=w + 1e-9).contains(&got), "{} outside [0, {}] at {}", got, w, t);
            let want = true_secs(items, t - w_ms, t);
            prop_assert!((got - want).abs() < 1e-6, "at {}: {} != {}", t, got, want);
        }
    }

    /// has_existed is false from the first step until the input is first true, then true for
    /// good: it never goes from true back to false.
    #[test]
    fn has_existed_never_falls(x in bool_any(), extra in extra_steps()) {
        let out = testing::run(op("has_existed", ""), vec![x.clone()], &extra);
        let spans = out.bool_spans();
        if let Some(i) = spans.iter().position(|s| s.2 == Some(true)) {
            prop_assert_eq!(i + 1, spans.len(), "true then {:?}", spans);
        }
        let Some((lo, hi)) = step_range(std::slice::from_ref(&x), &extra) else { return Ok(()) };
        let first_true = match &x {
            Series::Events(_, items) => items.iter().find(|(_, v)| *v == Scalar::Bool(true)).map(|(t, _)| *t),
            Series::State(_, items) => items.iter().find(|(_, v)| *v == Some(Scalar::Bool(true))).map(|(t, _)| *t),
            Series::Numeric(_) => unreachable!(),
        };
        for t in sample_points(starts_ms(&out), (lo * 1000.0) as Time, (hi * 1000.0) as Time + 1000) {
            let want = first_true.is_some_and(|f| f * 1000 <= t);
            prop_assert_eq!(out.value_at(secs(t)), Some(Scalar::Bool(want)), "at {}", t);
        }
    }

    /// has_existed_within(D) is true at t exactly when a true event lies in (t − D, t] (for a
    /// state input: when the state was true at some instant of (t − D, t]), from the first step
    /// up to the last one (later window ends are only known once a step passes them).
    #[test]
    fn has_existed_within_matches_its_definition(
        x in bool_any(),
        d in prop::sample::select(vec![1.0, 2.0, 2.5, 4.0]),
        extra in extra_steps(),
    ) {
        let out = testing::run(op("has_existed_within", &format!("within_secs: {d}")), vec![x.clone()], &extra);
        let Some((lo, hi)) = step_range(std::slice::from_ref(&x), &extra) else { return Ok(()) };
        let d_ms = (d * 1000.0) as Time;
        let (change_times, want): (Vec<Time>, Box<dyn Fn(Time) -> bool>) = match &x {
            Series::Events(_, items) => {
                let trues: Vec<Time> = items.iter().filter(|(_, v)| *v == Scalar::Bool(true)).map(|(t, _)| t * 1000).collect();
                (trues.clone(), Box::new(move |t| trues.iter().any(|&e| t - d_ms < e && e <= t)))
            }
            Series::State(_, items) => {
                // True pieces [a, b) that overlap (t − D, t].
                let pieces: Vec<(Time, Time)> = items
                    .iter()
                    .enumerate()
                    .filter(|(_, (_, v))| *v == Some(Scalar::Bool(true)))
                    .map(|(i, (t, _))| (t * 1000, items.get(i + 1).map_or(Time::MAX, |n| n.0 * 1000)))
                    .collect();
                let ends = items.iter().map(|(t, _)| t * 1000).collect();
                (ends, Box::new(move |t| pieces.iter().any(|&(a, b)| a <= t && b > t - d_ms)))
            }
            Series::Numeric(_) => unreachable!(),
        };
        let points = sample_points(
            starts_ms(&out).into_iter().chain(change_times.iter().map(|t| t + d_ms)).chain(change_times.iter().copied()),
            (lo * 1000.0) as Time,
            (hi * 1000.0) as Time,
        );
        for t in points {
            prop_assert_eq!(out.value_at(secs(t)), Some(Scalar::Bool(want(t))), "at {} ms; output {:?}", t, out.bool_spans());
        }
    }

    /// in_set with a single value is equals with that value, numbers crossing it included.
    #[test]
    fn in_set_of_one_value_is_equals(
        x in prop_oneof![number(), state(ValueType::Str, true), events(ValueType::Str)],
        extra in extra_steps(),
    ) {
        let value = if matches!(x, Series::State(ValueType::Str, _) | Series::Events(ValueType::Str, _)) { "b" } else { "0" };
        let nodes = vec![
            (Node::Source(x.clone()), vec![]),
            (Node::Op(op("in_set", &format!("values: [{value}]"))), vec![0]),
            (Node::Op(op("equals", &format!("value: {value}"))), vec![0]),
        ];
        let (tr, _) = run_graph(nodes, &extra);
        prop_assert_eq!(&tr[1].spans, &tr[2].spans);
        prop_assert_eq!(&tr[1].events, &tr[2].events);
    }

    /// Swapping a comparison's inputs mirrors it: a > b == b < a, a >= b == b <= a, and
    /// equals/not_equals are symmetric, for numbers crossing each other between steps too.
    #[test]
    fn comparisons_mirror_when_inputs_swap(
        a in prop_oneof![numeric(), state(ValueType::F64, true)],
        b in prop_oneof![numeric(), state(ValueType::F64, true), events(ValueType::F64)],
        extra in extra_steps(),
    ) {
        for (x, y) in [("greater_than", "less_than"), ("greater_or_equal", "less_or_equal"), ("equals", "equals"), ("not_equals", "not_equals")] {
            let nodes = vec![
                (Node::Source(a.clone()), vec![]),
                (Node::Source(b.clone()), vec![]),
                (Node::Op(op(x, "")), vec![0, 1]),
                (Node::Op(op(y, "")), vec![1, 0]),
            ];
            let (tr, _) = run_graph(nodes, &extra);
            prop_assert_eq!(&tr[2].spans, &tr[3].spans, "{} vs {}", x, y);
            prop_assert_eq!(&tr[2].events, &tr[3].events, "{} vs {}", x, y);
        }
    }

    /// count is the number of events at or before t, from 0 at the first step.
    #[test]
    fn count_counts_events_so_far(x in any_vt().prop_flat_map(events), extra in extra_steps()) {
        let out = testing::run(op("count", ""), vec![x.clone()], &extra);
        let Some((lo, hi)) = step_range(std::slice::from_ref(&x), &extra) else { return Ok(()) };
        let items = event_items(&x);
        for t in sample_points(starts_ms(&out), (lo * 1000.0) as Time, (hi * 1000.0) as Time + 1000) {
            let want = items.iter().filter(|(e, _)| e * 1000 <= t).count() as f64;
            prop_assert_eq!(out.value_at(secs(t)), Some(Scalar::F64(want)), "at {}", t);
        }
    }

    /// latest_event_to_state holds the last event at or before t (the last of its instant).
    #[test]
    fn latest_event_to_state_holds_the_last_event(x in any_vt().prop_flat_map(events), extra in extra_steps()) {
        let out = testing::run(op("latest_event_to_state", ""), vec![x.clone()], &extra);
        let Some((lo, hi)) = step_range(std::slice::from_ref(&x), &extra) else { return Ok(()) };
        let items = event_items(&x);
        for t in sample_points(starts_ms(&out), (lo * 1000.0) as Time, (hi * 1000.0) as Time + 1000) {
            let want = items.iter().rev().find(|(e, _)| e * 1000 <= t).map(|(_, v)| v.clone());
            prop_assert_eq!(out.value_at(secs(t)), want, "at {}", t);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// A naive per-instant reference for the video specs, against the real pipeline.

/// One heartbeat: a whole-second time and the fields that changed (null otherwise).
#[derive(Clone, Debug)]
struct Beat {
    t: i64,
    player: Option<&'static str>,
    cdn: Option<&'static str>,
    action: Option<&'static str>,
    network: Option<&'static str>,
}

impl Beat {
    fn field(&self, path: &str) -> Option<&'static str> {
        match path {
            "playerState" => self.player,
            "cdn" => self.cdn,
            "userAction" => self.action,
            "network" => self.network,
            other => panic!("the reference knows no field `{other}`"),
        }
    }
}

/// A session: 1–`n` heartbeats at whole seconds in `[0, t_max]`, several possibly at one instant.
fn session(n: usize, t_max: i64) -> impl Strategy<Value = Vec<Beat>> {
    let opt = |p: f64, vals: &[&'static str]| {
        prop::option::weighted(p, prop::sample::select(vals.to_vec()))
    };
    let beat = (
        0..=t_max,
        opt(0.5, &["init", "buffer", "play", "pause"]),
        opt(0.3, &["CDN1", "CDN2"]),
        opt(0.2, &["seek", "click"]),
        opt(0.3, &["wifi", "cellular"]),
    )
        .prop_map(|(t, player, cdn, action, network)| Beat {
            t,
            player,
            cdn,
            action,
            network,
        });
    prop::collection::vec(beat, 1..=n).prop_map(|mut v| {
        v.sort_by_key(|b| b.t);
        v
    })
}

/// The beats' state during the whole second `[k, k + 1)`: every input changes only at whole
/// seconds (seek windows end at seek + 5 s), so this is the state at every instant of it.
struct Second<'a> {
    beats: &'a [Beat],
    k: i64,
}

impl Second<'_> {
    fn latest(&self, f: impl Fn(&Beat) -> Option<&'static str>) -> Option<&'static str> {
        self.beats
            .iter()
            .filter(|b| b.t <= self.k)
            .filter_map(f)
            .next_back()
    }
    fn ever(&self, f: impl Fn(&Beat) -> bool) -> bool {
        self.beats.iter().any(|b| b.t <= self.k && f(b))
    }
    /// Some beat in `(k − secs, k]` satisfies `f`.
    fn within(&self, secs: i64, f: impl Fn(&Beat) -> bool) -> bool {
        self.beats
            .iter()
            .any(|b| self.k - secs < b.t && b.t <= self.k && f(b))
    }
}

/// Seconds in `[from, to)` (whole seconds, from the session's first beat on) where `pred` holds.
fn integrate(beats: &[Beat], from: i64, to: i64, pred: impl Fn(&Second<'_>) -> bool) -> f64 {
    (from.max(beats[0].t)..to)
        .filter(|&k| pred(&Second { beats, k }))
        .count() as f64
}

/// CIR at `t` seconds: buffering, after playback started, outside 5 s after a seek; on CDN1 and
/// on any CDN.
fn reference_cir(beats: &[Beat], t: i64) -> (f64, f64) {
    let cib = |c: &Second<'_>| {
        c.latest(|b| b.player) == Some("buffer")
            && c.ever(|b| b.player == Some("play"))
            && !c.within(5, |b| b.action == Some("seek"))
    };
    (
        integrate(beats, i64::MIN, t, |c| {
            cib(c) && c.latest(|b| b.cdn) == Some("CDN1")
        }),
        integrate(beats, i64::MIN, t, cib),
    )
}

/// Play time on CDN1 over Wi-Fi at `t` seconds: since the start, and within the last 60 s.
fn reference_play(beats: &[Beat], t: i64) -> (f64, f64) {
    let playing = |c: &Second<'_>| {
        c.latest(|b| b.player) == Some("play")
            && c.latest(|b| b.network) == Some("wifi")
            && c.latest(|b| b.cdn) == Some("CDN1")
    };
    (
        integrate(beats, i64::MIN, t, playing),
        integrate(beats, t - 60, t, playing),
    )
}

/// Runs one session through the real pipeline and returns every row it produced.
fn run_session(program: &Program, beats: &[Beat]) -> Vec<Row> {
    let mut processor = SessionProcessor::new(program);
    let mut rows = Vec::new();
    let mut sink = |_: &str, r: &Row| rows.push(r.clone());
    for (seq, b) in beats.iter().enumerate() {
        let fields = program
            .input
            .fields
            .iter()
            .map(|(path, _)| {
                b.field(path)
                    .map_or(FieldValue::Null, |v| FieldValue::Str(v.into()))
            })
            .collect();
        let record = Record {
            time: b.t * 1000,
            sequence: Some(seq as i64),
            fields,
        };
        processor
            .push("s", record, &mut sink)
            .expect("times never go back");
    }
    processor.finish(&mut sink);
    rows
}

fn numbers(values: &[f64]) -> Vec<Option<Scalar>> {
    values.iter().map(|v| Some(Scalar::F64(*v))).collect()
}

/// Distinct beat times, in order: where `every_event` outputs evaluate.
fn beat_times(beats: &[Beat]) -> Vec<i64> {
    let mut t: Vec<i64> = beats.iter().map(|b| b.t).collect();
    t.dedup();
    t
}

/// The CIR spec's nodes (dag-specs/video/connection_induced_rebuffering.yaml) with typed `get`s
/// instead of the schema, plus an `every_event` output to compare at every event.
const CIR_SPEC: &str = r#"
name: cir_reference
input: { session_key: sessionId, time: timestamp, sequence: seq }
nodes:
  - { id: events, op: event_source }
  - { id: player_state_updates, op: get, inputs: [events], with: { field: playerState, type: string } }
  - { id: player_state, op: latest_event_to_state, inputs: [player_state_updates] }
  - { id: is_buffering, op: equals, inputs: [player_state], with: { value: buffer } }
  - { id: play_started, op: equals, inputs: [player_state_updates], with: { value: play } }
  - { id: has_started_playing, op: has_existed, inputs: [play_started] }
  - { id: user_actions, op: get, inputs: [events], with: { field: userAction, type: string } }
  - { id: is_seek, op: equals, inputs: [user_actions], with: { value: seek } }
  - { id: seeked_recently, op: has_existed_within, inputs: [is_seek], with: { within_secs: 5 } }
  - { id: not_during_seek, op: not, inputs: [seeked_recently] }
  - { id: cdn_updates, op: get, inputs: [events], with: { field: cdn, type: string } }
  - { id: cdn, op: latest_event_to_state, inputs: [cdn_updates] }
  - { id: is_cdn1, op: equals, inputs: [cdn], with: { value: CDN1 } }
  - { id: connection_induced_buffering, op: and, inputs: [is_buffering, has_started_playing, not_during_seek] }
  - { id: cir_buffering_on_cdn1, op: and, inputs: [connection_induced_buffering, is_cdn1] }
  - { id: cir_secs_cdn1, op: duration_where, inputs: [cir_buffering_on_cdn1] }
  - { id: cir_secs_all_cdns, op: duration_where, inputs: [connection_induced_buffering] }
outputs:
  - { name: cir_realtime, evaluate_at: every_event, columns: [cir_secs_cdn1, cir_secs_all_cdns] }
  - { name: cir_per_session, evaluate_at: session_end, columns: [cir_secs_cdn1, cir_secs_all_cdns] }
"#;

/// The play-time spec's nodes (dag-specs/video/play_time_on_cdn.yaml), typed, with the sliding
/// window shown at every event.
const PLAY_SPEC: &str = r#"
name: play_reference
input: { session_key: sessionId, time: timestamp, sequence: seq }
nodes:
  - { id: events, op: event_source }
  - { id: player_state_updates, op: get, inputs: [events], with: { field: playerState, type: string } }
  - { id: player_state, op: latest_event_to_state, inputs: [player_state_updates] }
  - { id: is_playing, op: equals, inputs: [player_state], with: { value: play } }
  - { id: network_updates, op: get, inputs: [events], with: { field: network, type: string } }
  - { id: network, op: latest_event_to_state, inputs: [network_updates] }
  - { id: is_wifi, op: equals, inputs: [network], with: { value: wifi } }
  - { id: cdn_updates, op: get, inputs: [events], with: { field: cdn, type: string } }
  - { id: cdn, op: latest_event_to_state, inputs: [cdn_updates] }
  - { id: is_cdn1, op: equals, inputs: [cdn], with: { value: CDN1 } }
  - { id: playing_on_cdn1_wifi, op: and, inputs: [is_playing, is_wifi, is_cdn1] }
  - { id: play_secs, op: duration_where, inputs: [playing_on_cdn1_wifi] }
  - { id: play_secs_last_minute, op: duration_where, inputs: [playing_on_cdn1_wifi], with: { window_secs: 60 } }
outputs:
  - { name: play_realtime, evaluate_at: every_event, columns: [play_secs, play_secs_last_minute] }
"#;

fn parsed(cell: &'static OnceLock<Program>, yaml: &str) -> &'static Program {
    cell.get_or_init(|| Program::parse(yaml, None).unwrap_or_else(|e| panic!("{e:?}")))
}

fn spec_file(cell: &'static OnceLock<Program>, rel: &str) -> &'static Program {
    cell.get_or_init(|| {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(rel);
        spanflow::spec_file::load(&path)
            .program
            .unwrap_or_else(|e| panic!("{rel}: {e:?}"))
    })
}

proptest! {
    #![proptest_config(config(256))]

    /// The CIR metrics agree with the per-second reference at every event and at session end,
    /// both for the in-test spec and for the spec file as shipped.
    #[test]
    fn cir_matches_the_per_second_reference(beats in session(30, 60)) {
        static INLINE: OnceLock<Program> = OnceLock::new();
        static FILE: OnceLock<Program> = OnceLock::new();
        let last = beats.last().expect("non-empty").t;
        let want_end = reference_cir(&beats, last);

        let rows = run_session(parsed(&INLINE, CIR_SPEC), &beats);
        let realtime: Vec<(Time, Vec<Option<Scalar>>)> =
            rows.iter().filter(|r| r.output == 0).map(|r| (r.time, r.values.to_vec())).collect();
        let want: Vec<(Time, Vec<Option<Scalar>>)> = beat_times(&beats)
            .into_iter()
            .map(|t| {
                let (a, b) = reference_cir(&beats, t);
                (t * 1000, numbers(&[a, b]))
            })
            .collect();
        prop_assert_eq!(realtime, want);
        let end: Vec<_> = rows.iter().filter(|r| r.output == 1).map(|r| (r.time, r.values.to_vec())).collect();
        prop_assert_eq!(&end, &vec![(last * 1000, numbers(&[want_end.0, want_end.1]))]);

        let file = spec_file(&FILE, "dag-specs/video/connection_induced_rebuffering.yaml");
        let rows: Vec<_> = run_session(file, &beats).into_iter().map(|r| (r.output, r.time, r.values.to_vec())).collect();
        prop_assert_eq!(rows, vec![(0, last * 1000, numbers(&[want_end.0, want_end.1]))]);
    }

    /// Play time and its 60 s sliding window agree with the per-second reference at every event
    /// and, for the spec file, at every whole minute.
    #[test]
    fn play_time_window_matches_the_per_second_reference(beats in session(40, 240)) {
        static INLINE: OnceLock<Program> = OnceLock::new();
        static FILE: OnceLock<Program> = OnceLock::new();
        let rows = run_session(parsed(&INLINE, PLAY_SPEC), &beats);
        let got: Vec<(Time, Vec<Option<Scalar>>)> = rows.iter().map(|r| (r.time, r.values.to_vec())).collect();
        let want: Vec<(Time, Vec<Option<Scalar>>)> = beat_times(&beats)
            .into_iter()
            .map(|t| {
                let (a, b) = reference_play(&beats, t);
                (t * 1000, numbers(&[a, b]))
            })
            .collect();
        prop_assert_eq!(got, want);

        let file = spec_file(&FILE, "dag-specs/video/play_time_on_cdn.yaml");
        let rows = run_session(file, &beats);
        let per_minute: Vec<(Time, Vec<Option<Scalar>>)> =
            rows.iter().filter(|r| r.output == 1).map(|r| (r.time, r.values.to_vec())).collect();
        let (first, last) = (beats[0].t, beats.last().expect("non-empty").t);
        let want: Vec<(Time, Vec<Option<Scalar>>)> = (first..=last)
            .filter(|t| t % 60 == 0)
            .map(|t| {
                let (a, b) = reference_play(&beats, t);
                (t * 1000, numbers(&[a, b]))
            })
            .collect();
        prop_assert_eq!(per_minute, want);
    }
}

// ---------------------------------------------------------------------------------------------
// The engine's coalescing primitive, and counterexamples the properties above found.

proptest! {
    #![proptest_config(config(512))]

    /// `Buf::push_state`, through which every state output is coalesced, never emits a span
    /// that continues the value before it, within a step or across steps.
    #[test]
    fn push_state_coalesces_within_and_across_steps(
        steps in prop::collection::vec(prop::collection::vec((0i64..3, prop::option::of(any::<bool>())), 1..4), 1..6),
    ) {
        let mut out = Buf::new(false);
        let mut last = Val::Undef;
        let strings = Interner::new();
        let mut trace = Trace::default();
        let mut prev = None;
        for (k, pushes) in steps.iter().enumerate() {
            let now = 10_000 * (k as Time + 1);
            // Operators push at most once per instant, in time order; the first step has one.
            let mut pushes: Vec<_> = pushes.iter().map(|&(o, v)| (if prev.is_some() { o } else { 0 }, v)).collect();
            pushes.sort_unstable_by_key(|p| std::cmp::Reverse(p.0));
            pushes.dedup_by_key(|p| p.0);
            out.clear();
            for (off, v) in pushes {
                out.push_state(&mut last, now - off * 1000, v.map_or(Val::Undef, Val::Bool));
            }
            record_step(&out, TimelineType::BOOL_STATE, &strings, prev, now, &mut trace);
            prev = Some(now);
        }
        prop_assert!(trace.problems.is_empty(), "{}", trace.problems.join("\n"));
    }
}

/// Two pushes at one instant cannot coalesce correctly (true, then false and true at 2 s
/// would re-emit true); debug builds catch an operator doing it.
#[test]
#[cfg(debug_assertions)]
#[should_panic(expected = "state pushed at 2000 after a push at 2000")]
fn push_state_rejects_a_second_push_at_one_instant() {
    let mut out = Buf::new(false);
    let mut last = Val::Undef;
    out.push_state(&mut last, 1000, Val::Bool(true));
    out.clear();
    out.push_state(&mut last, 2000, Val::Bool(false));
    out.push_state(&mut last, 2000, Val::Bool(true));
}

/// Bug: a false state turning undefined (or undefined turning false) while the window after a
/// true is still open restarts the window; at exactly its end, the output never closes.
#[test]
fn has_existed_within_does_not_restart_the_window_on_a_change_that_is_not_from_true() {
    use Scalar::Bool;
    let x = Series::State(
        ValueType::Bool,
        vec![(0, Some(Bool(true))), (4, Some(Bool(false))), (6, None)],
    );
    let out = testing::run(op("has_existed_within", "within_secs: 2"), vec![x], &[10]);
    assert_eq!(
        out.bool_spans(),
        vec![(0.0, Some(6.0), Some(true)), (6.0, None, Some(false))]
    );
    let x = Series::State(
        ValueType::Bool,
        vec![(0, Some(Bool(true))), (4, None), (5, Some(Bool(false)))],
    );
    let out = testing::run(op("has_existed_within", "within_secs: 2"), vec![x], &[10]);
    assert_eq!(
        out.bool_spans(),
        vec![(0.0, Some(6.0), Some(true)), (6.0, None, Some(false))]
    );
}

/// Bug: `in_set` over a numeric timeline tests membership only where a piece starts, so a
/// number rising from 0 stays "in [0]" for ever; `equals` with the same value gets it right.
#[test]
fn in_set_follows_a_numeric_input_between_its_pieces() {
    let rising = || vec![Series::Numeric(vec![(0, 0.0, 1.0)])];
    let eq = testing::run(op("equals", "value: 0"), rising(), &[5]);
    assert_eq!(eq.value_at(3.0), Some(Scalar::Bool(false)));
    let in_set = testing::run(op("in_set", "values: [0]"), rising(), &[5]);
    assert_eq!(
        in_set.value_at(3.0),
        Some(Scalar::Bool(false)),
        "{in_set:?}"
    );
}
