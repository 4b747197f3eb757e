//! `filter`: keep a timeline only where a boolean condition holds.

use crate::pointwise::{run_at_changes, run_events};
use crate::prelude::*;
use spanflow_engine::NO_ORIGIN;

/// Inputs `[timeline, condition]`. Events are kept where the condition is true at their instant:
/// a boolean state, or boolean events at the same instant, e.g. `filter(x, x > 5)`, where each
/// event is kept or dropped by the condition computed from its own record (of several events at
/// one instant, each has its own condition). States and numbers become undefined where the
/// condition is not true.
#[derive(Clone, Debug, Default, Deserialize, JsonSchema)]
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

    fn step(&self, io: &mut Io<'_>) {
        match (io.inputs.kind(0), io.inputs.kind(1)) {
            (Kind::Event, Kind::Event) => {
                // Each event is kept by the condition event of its own record. Events that do
                // not come from one record pair by their order among the instant's events.
                let mut m = Merge::new(&io.inputs);
                while let Some(t) = m.next_instant() {
                    let events = m.take_events(0, t);
                    let (conds, cond_origins) = m.take_events(1, t).unwrap_or_default();
                    let by_record = cond_origins.iter().any(|&c| c != NO_ORIGIN);
                    let (values, origins) = events.unwrap_or_default();
                    for (k, (&(_, v), &origin)) in values.iter().zip(origins).enumerate() {
                        let cond = if by_record && origin != NO_ORIGIN {
                            cond_origins.iter().position(|&c| c == origin)
                        } else {
                            Some(k)
                        };
                        if cond
                            .and_then(|p| conds.get(p))
                            .is_some_and(|c| c.1.is_true())
                        {
                            io.out.push_event_from(t, v, origin);
                        }
                    }
                }
            }
            (Kind::Event, _) => {
                run_events(io, 0, |_, v| if v[1].is_true() { v[0] } else { Val::Undef })
            }
            _ => {
                let numeric = io.out.is_numeric();
                let f = |t: Time, v: &[Val]| match (v[1].is_true(), numeric) {
                    (false, _) => Val::Undef,
                    (true, true) => v[0]
                        .linear_at(t)
                        .map_or(Val::Undef, |line| Val::Lin { start: t, line }),
                    (true, false) => v[0],
                };
                run_at_changes(io, f);
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
