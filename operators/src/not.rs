//! `not`: inverts a boolean timeline.

use crate::pointwise::{run_continuous, run_events};
use crate::prelude::*;

/// Pointwise NOT; undefined stays undefined, so `not(not(x)) == x`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Not {}

impl Operator for Not {
    fn name(&self) -> &'static str {
        "not"
    }

    fn output_type(&self, inputs: &[TimelineType]) -> Result<TimelineType, TypeMismatch> {
        expect_arity(inputs, 1, 1)?;
        expect_bool(inputs, 0)?;
        Ok(inputs[0])
    }

    fn init_state(&self) -> NodeState {
        pointwise_state(1)
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
        let f = |_: Time, v: &[Current]| match v[0] {
            Current::Bool(b) => Current::Bool(!b),
            _ => Current::Undefined,
        };
        if inputs[0].ty().kind == Kind::Event {
            run_events(inputs, 0, cx, currents, out, f);
        } else {
            run_continuous(inputs, cx, currents, last, out, f, |_, _| None);
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::{op, run, Series};

    #[test]
    fn inverts_states_and_events() {
        let out = run(
            op("not", ""),
            vec![Series::bool_state(&[(0, false), (3, true)])],
            &[],
        );
        assert_eq!(
            out.bool_spans(),
            vec![(0.0, Some(3.0), Some(true)), (3.0, None, Some(false))]
        );
        let out = run(op("not", ""), vec![Series::bool_events(&[(1, true)])], &[]);
        assert_eq!(out.events(), &[(1.0, spanflow_engine::Scalar::Bool(false))]);
    }
}
