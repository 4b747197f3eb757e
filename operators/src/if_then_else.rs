//! `if`: pointwise choice between two timelines by a boolean condition.

use crate::pointwise::{run_at_changes, run_events};
use crate::prelude::*;

/// Inputs `[condition, then, else]`: where the condition is true, the `then` input's value;
/// elsewhere (false or undefined) the `else` input's value.
#[derive(Clone, Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct If {}

impl Operator for If {
    fn name(&self) -> &'static str {
        "if"
    }

    fn output_type(&self, inputs: &[TimelineType]) -> Result<TimelineType, TypeMismatch> {
        expect_arity(inputs, 3, 3)?;
        expect_bool(inputs, 0)?;
        if inputs[1].value != inputs[2].value {
            return Err(TypeMismatch::input(
                2,
                format!(
                    "`then` is {} but `else` is {}: both branches need the same value type",
                    inputs[1], inputs[2]
                ),
            ));
        }
        Ok(TimelineType::new(pointwise_kind(inputs)?, inputs[1].value))
    }

    fn step(&self, io: &mut Io<'_>) {
        let numeric = io.out.is_numeric();
        let f = |t: Time, v: &[Val]| {
            let chosen = if v[0].is_true() { v[1] } else { v[2] };
            match chosen.linear_at(t) {
                Some(line) if numeric => Val::Lin { start: t, line },
                _ => chosen.at(t),
            }
        };
        match (0..io.inputs.len()).find(|&k| io.inputs.kind(k) == Kind::Event) {
            Some(ev) => run_events(io, ev, f),
            None => {
                run_at_changes(io, f);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::{op, run, Series};
    use spanflow_engine::Scalar;

    #[test]
    fn selects_by_condition() {
        let out = run(
            op("if", ""),
            vec![
                Series::bool_state(&[(0, true), (5, false)]),
                Series::str_state(&[(0, "hd")]),
                Series::str_state(&[(0, "sd")]),
            ],
            &[],
        );
        let s = |v: &str| Some(Scalar::Str(v.into()));
        assert_eq!(
            out.spans(),
            vec![(0.0, Some(5.0), s("hd")), (5.0, None, s("sd"))]
        );
    }

    #[test]
    fn numeric_branches_stay_continuous() {
        let out = run(
            op("if", ""),
            vec![
                Series::bool_state(&[(0, true), (4, false)]),
                Series::Numeric(vec![(0, 0.0, 1.0)]),
                Series::f64_state(&[(0, -1.0)]),
            ],
            &[8],
        );
        assert_eq!(out.f64_at(3.0), 3.0);
        assert_eq!(out.f64_at(6.0), -1.0);
    }
}
