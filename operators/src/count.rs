//! `count`: how many events (or state changes) so far.

use crate::prelude::*;

/// Events or state → f64 state: 0 from the session's start, +1 per event (or per change to a
/// defined value of a state).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Count {}

impl Operator for Count {
    fn name(&self) -> &'static str {
        "count"
    }

    fn output_type(&self, inputs: &[TimelineType]) -> Result<TimelineType, TypeMismatch> {
        expect_arity(inputs, 1, 1)?;
        expect_kind(inputs, 0, inputs[0].kind, "")?;
        if inputs[0].kind == Kind::Numeric {
            return Err(TypeMismatch::input(
                0,
                "numeric timelines change continuously; count events or state changes instead",
            ));
        }
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
        let mut cur = Current::Undefined;
        while let Some(t) = m.next_instant() {
            let n = match m.take_events(0, t) {
                Some(events) => events.len(),
                None => m.take_records(0, t).unwrap_or_else(|| {
                    usize::from(m.take_change(0, t, &mut cur) && cur.is_defined())
                }),
            };
            if n > 0 {
                *total += n as f64;
                out.push_state(last, t, Current::F64(*total));
            }
        }
        // Zero from the session's start when its first instant counted nothing.
        if cx.is_first() && out.is_empty() {
            out.push_state(last, cx.now, Current::F64(*total));
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::{op, run, Series};
    use spanflow_engine::Scalar::F64;

    /// Acceptance case 10: a per-span event count gives 2 and 1.
    #[test]
    fn counts_events_per_instant() {
        let out = run(
            op("count", ""),
            vec![Series::str_events(&[
                (1100, "start"),
                (1100, "click"),
                (1300, "ad_load"),
            ])],
            &[1000],
        );
        assert_eq!(
            out.spans(),
            vec![
                (1000.0, Some(1100.0), Some(F64(0.0))),
                (1100.0, Some(1300.0), Some(F64(2.0))),
                (1300.0, None, Some(F64(3.0)))
            ]
        );
    }

    #[test]
    fn counts_state_changes() {
        let out = run(
            op("count", ""),
            vec![Series::str_state(&[(0, "a"), (2, "b")])],
            &[],
        );
        assert_eq!(out.value_at(5.0), Some(F64(2.0)));
    }
}
