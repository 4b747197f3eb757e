//! `less_than`: true where the input is less than a constant or a second input.

use crate::compare::{comparison, Cmp};
use crate::prelude::*;

comparison!(
    /// Pointwise `a less than b` → bool (events if an input is events). Undefined compares false.
    LessThan,
    "less_than",
    Cmp::Lt
);

#[cfg(test)]
mod tests {
    use crate::testing::{op, run, Series};

    #[test]
    fn strings_order_lexicographically() {
        let out = run(
            op("less_than", "value: m"),
            vec![Series::str_state(&[(0, "a"), (2, "z")])],
            &[],
        );
        assert_eq!(
            out.bool_spans(),
            vec![(0.0, Some(2.0), Some(true)), (2.0, None, Some(false))]
        );
    }
}
