//! `abs`: pointwise absolute value.

use crate::pointwise::{flip_after, run_continuous, run_events};
use crate::prelude::*;

/// |x| of a number timeline; numeric inputs get a new piece where they cross zero.
#[derive(Clone, Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Abs {}

impl Operator for Abs {
    fn name(&self) -> &'static str {
        "abs"
    }

    fn output_type(&self, inputs: &[TimelineType]) -> Result<TimelineType, TypeMismatch> {
        expect_arity(inputs, 1, 1)?;
        expect_number(inputs, 0)?;
        Ok(inputs[0])
    }

    fn layout(&self, inputs: &[TimelineType]) -> Layout {
        deadline_if_numeric(inputs)
    }

    fn step(&self, io: &mut Io<'_>) {
        let f = |t: Time, v: &[Val]| match v[0] {
            Val::F64(x) => Val::F64(x.abs()),
            Val::Lin { start, line } => {
                let l = line.rebase(start, t);
                let negative = l.at_start < 0.0 || (l.at_start == 0.0 && l.per_sec < 0.0);
                let line = if negative {
                    Linear {
                        at_start: -l.at_start,
                        per_sec: -l.per_sec,
                    }
                } else {
                    l
                };
                Val::Lin { start: t, line }
            }
            _ => Val::Undef,
        };
        if io.inputs.kind(0) == Kind::Event {
            run_events(io, 0, f);
        } else {
            let zero = |t: Time, v: &[Val]| match v[0] {
                Val::Lin { start, line } => {
                    let positive = |c| line.value_at(start, c) > 0.0;
                    flip_after(t, line.rebase(start, t), positive)
                }
                _ => None,
            };
            io.deadline = run_continuous(io, f, zero).unwrap_or(Time::MAX);
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::{op, run, Series};

    #[test]
    fn folds_at_zero() {
        let out = run(
            op("abs", ""),
            vec![Series::Numeric(vec![(0, -2.0, 1.0)])],
            &[10],
        );
        assert_eq!(out.f64_at(0.0), 2.0);
        assert_eq!(out.f64_at(1.0), 1.0);
        assert_eq!(out.f64_at(2.0), 0.0);
        assert_eq!(out.f64_at(5.0), 3.0);
        let out = run(op("abs", ""), vec![Series::f64_events(&[(1, -4.5)])], &[]);
        assert_eq!(out.events(), &[(1.0, spanflow_engine::Scalar::F64(4.5))]);
    }
}
