//! `abs`: pointwise absolute value.

use crate::pointwise::{flip_after, run_continuous, run_events};
use crate::prelude::*;

/// |x| of a number timeline; numeric inputs get a new piece where they cross zero.
#[derive(Clone, Debug, Default, Deserialize)]
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

    fn init_state(&self) -> NodeState {
        pointwise_state(1)
    }

    fn idle_without_input(&self, _: &NodeState, numeric_input: bool, _: &StepCtx<'_>) -> bool {
        !numeric_input
    }

    fn step(
        &self,
        state: &mut NodeState,
        inputs: &[&Timeline],
        cx: &StepCtx<'_>,
        out: &mut Timeline,
    ) {
        let (currents, last) = state!(state, NodeState::Pointwise { inputs, out } => (inputs, out));
        let f = |t: Time, v: &[Current]| match &v[0] {
            Current::F64(x) => Current::F64(x.abs()),
            Current::Linear { start, line } => {
                let l = line.rebase(*start, t);
                let negative = l.at_start < 0.0 || (l.at_start == 0.0 && l.per_sec < 0.0);
                let line = if negative {
                    Linear {
                        at_start: -l.at_start,
                        per_sec: -l.per_sec,
                    }
                } else {
                    l
                };
                Current::Linear { start: t, line }
            }
            _ => Current::Undefined,
        };
        if inputs[0].ty().kind == Kind::Event {
            run_events(inputs, 0, cx, currents, out, f);
        } else {
            let zero = |t: Time, v: &[Current]| match &v[0] {
                Current::Linear { start, line } => {
                    let positive = |c| line.value_at(*start, c) > 0.0;
                    flip_after(t, line.rebase(*start, t), positive)
                }
                _ => None,
            };
            run_continuous(inputs, cx, currents, last, out, f, zero);
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
