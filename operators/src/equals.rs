//! `equals`: true where the input is equal to a constant or a second input.

use crate::compare::{comparison, Cmp};
use crate::prelude::*;

comparison!(
    /// Pointwise `a equal to b` → bool (events if an input is events). Undefined compares false.
    Equals,
    "equals",
    Cmp::Eq
);

#[cfg(test)]
mod tests {
    use crate::testing::{op, run, try_run, Series};

    /// Paper Fig. 6: `LatestEventToState(CDN) == "CDN1"` is false before the first CDN event.
    #[test]
    fn undefined_compares_false_and_states_switch() {
        let out = run(
            op("equals", "value: C1"),
            vec![Series::State(
                spanflow_engine::ValueType::Str,
                vec![
                    (1, Some(spanflow_engine::Scalar::Str("C1".into()))),
                    (22, Some(spanflow_engine::Scalar::Str("C2".into()))),
                ],
            )],
            &[0],
        );
        assert_eq!(
            out.bool_spans(),
            vec![
                (0.0, Some(1.0), Some(false)),
                (1.0, Some(22.0), Some(true)),
                (22.0, None, Some(false))
            ]
        );
    }

    #[test]
    fn events_compare_to_bool_events() {
        let out = run(
            op("equals", "value: seek"),
            vec![Series::str_events(&[(1, "click"), (3, "seek")])],
            &[],
        );
        use spanflow_engine::Scalar::Bool;
        assert_eq!(out.events(), &[(1.0, Bool(false)), (3.0, Bool(true))]);
    }

    #[test]
    fn two_inputs_compare_with_each_other() {
        let out = run(
            op("equals", ""),
            vec![
                Series::f64_state(&[(0, 1.0), (4, 2.0)]),
                Series::f64_state(&[(2, 2.0)]),
            ],
            &[],
        );
        assert_eq!(
            out.bool_spans(),
            vec![(0.0, Some(4.0), Some(false)), (4.0, None, Some(true))]
        );
    }

    #[test]
    fn rejects_mismatched_types() {
        let e = try_run(
            op("equals", "value: 3"),
            vec![Series::str_events(&[(0, "x")])],
            &[],
        )
        .unwrap_err();
        assert!(
            e.contains("compares events<string> with the constant 3: the value types differ"),
            "{e}"
        );
        let e = try_run(op("equals", ""), vec![Series::str_events(&[(0, "x")])], &[]).unwrap_err();
        assert!(e.contains("got one input and no `value`"), "{e}");
    }
}
