//! `has_existed`: false until the input is first true, then true forever.

use crate::prelude::*;

/// Cumulative OR of a boolean timeline (events or state) → boolean state. A sink: after the
/// first true it emits nothing more and skips its input (the paper's state-aware short-circuit).
#[derive(Clone, Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HasExisted {}

impl Operator for HasExisted {
    fn name(&self) -> &'static str {
        "has_existed"
    }

    fn output_type(&self, inputs: &[TimelineType]) -> Result<TimelineType, TypeMismatch> {
        expect_arity(inputs, 1, 1)?;
        expect_bool(inputs, 0)?;
        Ok(TimelineType::BOOL_STATE)
    }

    fn step(&self, io: &mut Io<'_>) {
        if io.last.is_true() {
            return;
        }
        // Events: a true event; state: a change to true.
        if let Some(&(t, _)) = io.inputs.items(0).iter().find(|(_, v)| v.is_true()) {
            io.out.push_state(io.last, t, Val::Bool(true));
            return;
        }
        // False from the session's start until the first true.
        if io.cx.is_first() {
            io.out.push_state(io.last, io.cx.now, Val::Bool(false));
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::{op, run, Series};

    /// Acceptance case 5 (paper Table 1): a later false does not reset it.
    #[test]
    fn is_a_sink() {
        let out = run(
            op("has_existed", ""),
            vec![Series::bool_events(&[(1, false), (4, true), (7, false)])],
            &[],
        );
        assert_eq!(
            out.bool_spans(),
            vec![(1.0, Some(4.0), Some(false)), (4.0, None, Some(true))]
        );
        let out = run(
            op("hasExisted", ""),
            vec![Series::bool_state(&[(0, false), (2, true), (3, false)])],
            &[],
        );
        assert_eq!(
            out.bool_spans(),
            vec![(0.0, Some(2.0), Some(false)), (2.0, None, Some(true))]
        );
    }
}
