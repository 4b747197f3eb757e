//! `filter`: keep a timeline only where a boolean condition holds.

use crate::pointwise::{run_continuous, run_events};
use crate::prelude::*;

/// Inputs `[timeline, condition]`. Events are kept where the condition is true at their instant
/// (a boolean state, or boolean events at the same instant, e.g. `filter(x, x > 5)`); states and
/// numbers become undefined where the condition is not true.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Filter {}

impl Operator for Filter {
    fn name(&self) -> &'static str {
        "filter"
    }

    fn output_type(&self, inputs: &[TimelineType]) -> Result<TimelineType, TypeMismatch> {
        expect_arity(inputs, 2, 2)?;
        expect_bool(inputs, 1)?;
        if inputs[0].value == ValueType::Record {
            return Err(TypeMismatch::input(
                0,
                "expects the events of one field; extract it first with `get`",
            ));
        }
        if inputs[0].kind != Kind::Event && inputs[1].kind == Kind::Event {
            return Err(TypeMismatch::input(1, "a state can only be filtered by a boolean state; turn the condition into one with `latest_event_to_state`"));
        }
        Ok(inputs[0])
    }

    fn init_state(&self) -> NodeState {
        pointwise_state(2)
    }

    fn idle_without_input(&self, _: &NodeState, _: bool, _: &StepCtx<'_>) -> bool {
        // Output changes only when an input changes or has events.
        true
    }

    fn step(
        &self,
        state: &mut NodeState,
        inputs: &[&Timeline],
        cx: &StepCtx<'_>,
        out: &mut Timeline,
    ) {
        let (currents, last) = state!(state, NodeState::Pointwise { inputs, out } => (inputs, out));
        match (inputs[0].ty().kind, inputs[1].ty().kind) {
            (Kind::Event, Kind::Event) => {
                // Keep the events whose instant also has a true condition event.
                let mut m = Merge::new(inputs, cx.now);
                while let Some(t) = m.next_instant() {
                    let values = m.take_events(0, t);
                    let keep = m.take_events(1, t).and_then(EventsRef::last)
                        == Some(ScalarRef::Bool(true));
                    for v in values
                        .into_iter()
                        .flat_map(EventsRef::iter)
                        .filter(|_| keep)
                    {
                        out.push_event(cx.from(), t, v);
                    }
                }
            }
            (Kind::Event, _) => run_events(inputs, 0, cx, currents, out, |_, v| {
                if v[1].is_true() {
                    v[0].clone()
                } else {
                    Current::Undefined
                }
            }),
            _ => {
                let numeric = out.ty().kind == Kind::Numeric;
                let f = |t: Time, v: &[Current]| match (v[1].is_true(), numeric) {
                    (false, _) => Current::Undefined,
                    (true, true) => {
                        v[0].linear_at(t)
                            .map_or(Current::Undefined, |line| Current::Linear {
                                start: t,
                                line,
                            })
                    }
                    (true, false) => v[0].clone(),
                };
                run_continuous(inputs, cx, currents, last, out, f, |_, _| None);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::{op, run, try_run, Series};
    use spanflow_engine::Scalar::{self, F64};

    #[test]
    fn keeps_events_where_the_condition_holds() {
        let out = run(
            op("filter", ""),
            vec![
                Series::f64_events(&[(1, 1.0), (3, 3.0), (6, 6.0)]),
                Series::bool_state(&[(0, false), (2, true), (5, false)]),
            ],
            &[],
        );
        assert_eq!(out.events(), &[(3.0, F64(3.0))]);
        let out = run(
            op("filter", ""),
            vec![
                Series::f64_events(&[(1, 1.0), (3, 3.0)]),
                Series::bool_events(&[(1, false), (3, true)]),
            ],
            &[],
        );
        assert_eq!(out.events(), &[(3.0, F64(3.0))]);
    }

    #[test]
    fn states_become_undefined_outside() {
        let out = run(
            op("filter", ""),
            vec![
                Series::str_state(&[(0, "a")]),
                Series::bool_state(&[(0, true), (4, false)]),
            ],
            &[],
        );
        assert_eq!(
            out.spans(),
            vec![
                (0.0, Some(4.0), Some(Scalar::Str("a".into()))),
                (4.0, None, None)
            ]
        );
        let e = try_run(
            op("filter", ""),
            vec![
                Series::str_state(&[(0, "a")]),
                Series::bool_events(&[(0, true)]),
            ],
            &[],
        )
        .unwrap_err();
        assert!(e.contains("latest_event_to_state"), "{e}");
    }
}
