//! `subtract`: pointwise difference of two number timelines.

use crate::arith::{arithmetic, Arith};
use crate::prelude::*;

arithmetic!(
    /// First operand minus the second (an input or `value`).
    Subtract,
    "subtract",
    Arith::Sub
);

#[cfg(test)]
mod tests {
    use crate::testing::{op, run, try_run, Series};

    #[test]
    fn differences_and_arity() {
        let out = run(
            op("subtract", ""),
            vec![
                Series::f64_events(&[(1, 10.0)]),
                Series::f64_state(&[(0, 4.0)]),
            ],
            &[],
        );
        assert_eq!(out.events(), &[(1.0, spanflow_engine::Scalar::F64(6.0))]);
        let e = try_run(
            op("subtract", "value: 1"),
            vec![
                Series::f64_state(&[(0, 1.0)]),
                Series::f64_state(&[(0, 1.0)]),
            ],
            &[],
        )
        .unwrap_err();
        assert!(e.contains("needs exactly 2 operands"), "{e}");
    }
}
