//! `greater_than`: true where the input is greater than a constant or a second input.

use crate::compare::{comparison, Cmp};
use crate::prelude::*;

comparison!(
    /// Pointwise `a greater than b` → bool (events if an input is events). Undefined compares false.
    GreaterThan,
    "greater_than",
    Cmp::Gt
);

#[cfg(test)]
mod tests {
    use crate::testing::{op, run, try_run, Series};

    /// Acceptance case 9: `A > 4` with A = [0,10) 2, [10,∞) 5.
    #[test]
    fn pointwise_against_a_constant() {
        let out = run(
            op("greater_than", "value: 4"),
            vec![Series::f64_state(&[(0, 2.0), (10, 5.0)])],
            &[],
        );
        assert_eq!(
            out.bool_spans(),
            vec![(0.0, Some(10.0), Some(false)), (10.0, None, Some(true))]
        );
    }

    #[test]
    fn booleans_have_no_order() {
        let e = try_run(
            op("greater_than", "value: true"),
            vec![Series::bool_state(&[(0, true)])],
            &[],
        )
        .unwrap_err();
        assert!(e.contains("booleans have no order"), "{e}");
    }
}
