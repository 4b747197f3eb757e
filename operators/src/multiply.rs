//! `multiply`: pointwise product of number timelines.

use crate::arith::{arithmetic, Arith};
use crate::prelude::*;

arithmetic!(
    /// Product of the inputs (and `value`); at most one factor may be numeric.
    Multiply,
    "multiply",
    Arith::Mul
);

#[cfg(test)]
mod tests {
    use crate::testing::{op, run, try_run, Series};

    #[test]
    fn scales_numeric_slopes() {
        let out = run(
            op("multiply", "value: 60"),
            vec![Series::Numeric(vec![(0, 1.0, 0.5)])],
            &[4],
        );
        assert_eq!(out.f64_at(4.0), 180.0);
        let e = try_run(
            op("multiply", ""),
            vec![
                Series::Numeric(vec![(0, 1.0, 1.0)]),
                Series::Numeric(vec![(0, 1.0, 1.0)]),
            ],
            &[],
        )
        .unwrap_err();
        assert!(e.contains("not piecewise linear"), "{e}");
    }
}
