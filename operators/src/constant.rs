//! `constant`: the same value at every instant of the session.

use crate::pointwise::run_continuous;
use crate::prelude::*;

/// A constant state timeline, defined from the session's first event.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConstantOp {
    /// The value.
    pub value: Constant,
}

impl Operator for ConstantOp {
    fn name(&self) -> &'static str {
        "constant"
    }

    fn output_type(&self, inputs: &[TimelineType]) -> Result<TimelineType, TypeMismatch> {
        expect_arity(inputs, 0, 0)?;
        Ok(TimelineType::state(constant_type(&self.value)))
    }

    fn init_state(&self) -> NodeState {
        pointwise_state(0)
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
        run_continuous(
            inputs,
            cx,
            currents,
            last,
            out,
            |_, _| Current::from_scalar(Some(self.value.0.as_ref())),
            |_, _| None,
        );
    }

    fn describe(&self) -> String {
        format!("value: {}", self.value)
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::{op, run, Series};

    #[test]
    fn defined_from_the_first_step() {
        let out = run(op("constant", "value: 3"), vec![], &[2, 7]);
        assert_eq!(
            out.spans(),
            vec![(2.0, None, Some(spanflow_engine::Scalar::F64(3.0)))]
        );
        let _ = Series::f64_state(&[]);
    }
}
