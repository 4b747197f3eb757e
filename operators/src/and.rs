//! `and`: true where every input is true.

use crate::prelude::*;

/// Pointwise AND of two or more boolean timelines; undefined counts as false.
#[derive(Clone, Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct And {}

impl Operator for And {
    fn name(&self) -> &'static str {
        "and"
    }

    fn output_type(&self, inputs: &[TimelineType]) -> Result<TimelineType, TypeMismatch> {
        crate::logic::output_type(inputs)
    }

    fn step(&self, io: &mut Io<'_>) {
        crate::logic::step(true, io)
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::{op, run, Series};

    /// Acceptance case 9: And(A>4, B==3) with B undefined before 4.
    #[test]
    fn undefined_is_false() {
        let a_gt_4 = Series::bool_state(&[(0, false), (10, true)]);
        let b_eq_3 = Series::bool_state(&[(4, true)]);
        let out = run(op("and", ""), vec![a_gt_4, b_eq_3], &[]);
        assert_eq!(
            out.bool_spans(),
            vec![(0.0, Some(10.0), Some(false)), (10.0, None, Some(true))]
        );
    }

    #[test]
    fn takes_many_inputs() {
        let out = run(
            op("and", ""),
            vec![
                Series::bool_state(&[(0, true)]),
                Series::bool_state(&[(0, true), (5, false)]),
                Series::bool_state(&[(2, true)]),
            ],
            &[],
        );
        assert_eq!(
            out.bool_spans(),
            vec![
                (0.0, Some(2.0), Some(false)),
                (2.0, Some(5.0), Some(true)),
                (5.0, None, Some(false))
            ]
        );
    }
}
