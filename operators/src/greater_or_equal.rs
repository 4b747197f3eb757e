//! `greater_or_equal`: true where the input is greater than or equal to a constant or a second input.

use crate::compare::{comparison, Cmp};
use crate::prelude::*;

comparison!(
    /// Pointwise `a greater than or equal to b` → bool (events if an input is events). Undefined compares false.
    GreaterOrEqual,
    "greater_or_equal",
    Cmp::Ge
);

#[cfg(test)]
mod tests {
    use crate::testing::{op, run, Series};

    /// A numeric input crossing the threshold between steps flips the output exactly there.
    #[test]
    fn numeric_crossings_are_exact() {
        let out = run(
            op("greater_or_equal", "value: 300"),
            vec![Series::Numeric(vec![(0, 0.0, 1.0), (400, 100.0, 0.0)])],
            &[1000],
        );
        assert_eq!(
            out.bool_spans(),
            vec![
                (0.0, Some(300.0), Some(false)),
                (300.0, Some(400.0), Some(true)),
                (400.0, None, Some(false))
            ]
        );
        // Two numeric inputs: the rising one overtakes the flat one at t=5.
        let out = run(
            op("greater_or_equal", ""),
            vec![
                Series::Numeric(vec![(0, 0.0, 2.0)]),
                Series::Numeric(vec![(0, 10.0, 0.0)]),
            ],
            &[20],
        );
        assert_eq!(
            out.bool_spans(),
            vec![(0.0, Some(5.0), Some(false)), (5.0, None, Some(true))]
        );
    }
}
