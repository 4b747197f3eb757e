//! `add`: pointwise sum of number timelines.

use crate::arith::{arithmetic, Arith};
use crate::prelude::*;

arithmetic!(
    /// Sum of two or more number inputs (and `value`). Undefined where any operand is.
    Add,
    "add",
    Arith::Add
);

#[cfg(test)]
mod tests {
    use crate::testing::{op, run, Series};

    /// Acceptance case 9: A+B is undefined until B is defined.
    #[test]
    fn undefined_prefix() {
        let a = Series::f64_state(&[(0, 2.0), (10, 5.0)]);
        let b = Series::f64_state(&[(4, 3.0)]);
        let out = run(op("add", ""), vec![a, b], &[]);
        use spanflow_engine::Scalar::F64;
        assert_eq!(
            out.spans(),
            vec![
                (4.0, Some(10.0), Some(F64(5.0))),
                (10.0, None, Some(F64(8.0)))
            ]
        );
        assert_eq!(out.value_at(2.0), None);
    }

    #[test]
    fn numeric_slopes_add() {
        let out = run(
            op("add", "value: 10"),
            vec![Series::Numeric(vec![(0, 0.0, 1.0)])],
            &[5],
        );
        assert_eq!(out.f64_at(5.0), 15.0);
    }
}
