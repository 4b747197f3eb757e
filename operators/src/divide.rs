//! `divide`: pointwise quotient of two number timelines.

use crate::arith::{arithmetic, Arith};
use crate::prelude::*;

arithmetic!(
    /// First operand divided by the second; undefined where the divisor is 0.
    Divide,
    "divide",
    Arith::Div
);

#[cfg(test)]
mod tests {
    use crate::testing::{op, run, Series};
    use spanflow_engine::Scalar::F64;

    #[test]
    fn division_by_zero_is_undefined() {
        let out = run(
            op("divide", ""),
            vec![
                Series::f64_state(&[(0, 10.0)]),
                Series::f64_state(&[(0, 2.0), (3, 0.0), (5, 4.0)]),
            ],
            &[],
        );
        assert_eq!(
            out.spans(),
            vec![
                (0.0, Some(3.0), Some(F64(5.0))),
                (3.0, Some(5.0), None),
                (5.0, None, Some(F64(2.5)))
            ]
        );
    }
}
