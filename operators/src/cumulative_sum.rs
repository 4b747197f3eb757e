//! `cumulative_sum`: the running total of number events.

use crate::prelude::*;

/// f64 events → f64 state: 0 from the session's start, plus each event's value.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CumulativeSum {}

impl Operator for CumulativeSum {
    fn name(&self) -> &'static str {
        "cumulative_sum"
    }

    fn output_type(&self, inputs: &[TimelineType]) -> Result<TimelineType, TypeMismatch> {
        expect_arity(inputs, 1, 1)?;
        expect_kind(inputs, 0, Kind::Event, "; the running total sums events")?;
        expect_number(inputs, 0)?;
        Ok(TimelineType::F64_STATE)
    }

    fn init_state(&self) -> NodeState {
        NodeState::Total {
            total: 0.0,
            out: Current::Undefined,
        }
    }

    fn idle_without_input(&self, _: &NodeState, _: bool, _: &StepCtx<'_>) -> bool {
        // Output changes only when an input changes or has events.
        true
    }

    fn step(
        &self,
        state: &mut NodeState,
        inputs: &[&Timeline],
        cx: &StepCtx<'_>,
        out: &mut Timeline,
    ) {
        let (total, last) = state!(state, NodeState::Total { total, out } => (total, out));
        let mut m = Merge::new(inputs, cx.now);
        while let Some(t) = m.next_instant() {
            if let Some(events) = m.take_events(0, t) {
                for v in events.iter() {
                    if let ScalarRef::F64(x) = v {
                        *total += x;
                    }
                }
                out.push_state(last, t, Current::F64(*total));
            }
        }
        // Zero from the session's start when its first instant had no events.
        if cx.is_first() && out.is_empty() {
            out.push_state(last, cx.now, Current::F64(*total));
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::{op, run, Series};
    use spanflow_engine::Scalar::F64;

    #[test]
    fn running_total() {
        let out = run(
            op("cumulativeSum", ""),
            vec![Series::f64_events(&[(1, 2.5), (3, 1.5), (3, 1.0)])],
            &[0],
        );
        assert_eq!(
            out.spans(),
            vec![
                (0.0, Some(1.0), Some(F64(0.0))),
                (1.0, Some(3.0), Some(F64(2.5))),
                (3.0, None, Some(F64(5.0)))
            ]
        );
    }
}
