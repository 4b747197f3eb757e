//! `not_equals`: true where the input is different from a constant or a second input.

use crate::compare::{comparison, Cmp};
use crate::prelude::*;

comparison!(
    /// Pointwise `a different from b` → bool (events if an input is events). Undefined compares false.
    NotEquals,
    "not_equals",
    Cmp::Ne
);

#[cfg(test)]
mod tests {
    use crate::testing::{op, run, Series};

    #[test]
    fn undefined_is_not_different_either() {
        let out = run(
            op("not_equals", "value: play"),
            vec![Series::str_state(&[(2, "play"), (5, "pause")])],
            &[0],
        );
        assert_eq!(
            out.bool_spans(),
            vec![(0.0, Some(5.0), Some(false)), (5.0, None, Some(true))]
        );
    }
}
