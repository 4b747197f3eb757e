//! `less_or_equal`: true where the input is less than or equal to a constant or a second input.

use crate::compare::{comparison, Cmp};
use crate::prelude::*;

comparison!(
    /// Pointwise `a less than or equal to b` → bool (events if an input is events). Undefined compares false.
    LessOrEqual,
    "less_or_equal",
    Cmp::Le
);

#[cfg(test)]
mod tests {
    use crate::testing::{op, run, Series};

    #[test]
    fn includes_equality() {
        let out = run(
            op("less_or_equal", "value: 2"),
            vec![Series::f64_events(&[(0, 1.0), (1, 2.0), (2, 3.0)])],
            &[],
        );
        use spanflow_engine::Scalar::Bool;
        assert_eq!(
            out.events(),
            &[(0.0, Bool(true)), (1.0, Bool(true)), (2.0, Bool(false))]
        );
    }
}
