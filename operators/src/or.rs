//! `or`: true where any input is true.

use crate::prelude::*;

/// Pointwise OR of two or more boolean timelines; undefined counts as false.
#[derive(Clone, Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Or {}

impl Operator for Or {
    fn name(&self) -> &'static str {
        "or"
    }

    fn output_type(&self, inputs: &[TimelineType]) -> Result<TimelineType, TypeMismatch> {
        crate::logic::output_type(inputs)
    }

    fn step(&self, io: &mut Io<'_>) {
        crate::logic::step(false, io)
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::{op, run, Series};

    #[test]
    fn true_where_any_is_true() {
        let out = run(
            op("or", ""),
            vec![
                Series::bool_state(&[(0, false), (3, true), (6, false)]),
                Series::bool_state(&[(5, true), (8, false)]),
            ],
            &[],
        );
        assert_eq!(
            out.bool_spans(),
            vec![
                (0.0, Some(3.0), Some(false)),
                (3.0, Some(8.0), Some(true)),
                (8.0, None, Some(false))
            ]
        );
    }
}
