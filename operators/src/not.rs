//! `not`: inverts a boolean timeline.

use crate::pointwise::{run_at_changes, run_events};
use crate::prelude::*;

/// Pointwise NOT; undefined stays undefined, so `not(not(x)) == x`.
#[derive(Clone, Debug, Default, Deserialize, JsonSchema)]
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

    fn step(&self, io: &mut Io<'_>) {
        let f = |_: Time, v: &[Val]| match v[0] {
            Val::Bool(b) => Val::Bool(!b),
            _ => Val::Undef,
        };
        if io.inputs.kind(0) == Kind::Event {
            run_events(io, 0, f);
        } else {
            run_at_changes(io, f);
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
