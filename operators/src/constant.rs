//! `constant`: the same value at every instant of the session.

use crate::pointwise::run_at_changes;
use crate::prelude::*;

/// A constant state timeline, defined from the session's first event.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
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

    fn constants(&self) -> Vec<Scalar> {
        vec![self.value.0.clone()]
    }

    fn step(&self, io: &mut Io<'_>) {
        let value = io.consts[0];
        run_at_changes(io, |_, _| value);
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
