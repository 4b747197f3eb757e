//! `event_source`: the spec's input records as an event timeline (the root of every DAG).

use crate::prelude::*;

/// Emits the step's input records. Takes no inputs and no parameters.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventSource {}

impl Operator for EventSource {
    fn name(&self) -> &'static str {
        "event_source"
    }

    fn output_type(&self, inputs: &[TimelineType]) -> Result<TimelineType, TypeMismatch> {
        expect_arity(inputs, 0, 0)?;
        Ok(TimelineType::RECORDS)
    }

    fn step(&self, _: &mut NodeState, _: &[&Timeline], cx: &StepCtx<'_>, out: &mut Timeline) {
        if let Timeline::Records(n) = out {
            *n = cx.records.len();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn takes_no_inputs() {
        assert_eq!(EventSource {}.output_type(&[]), Ok(TimelineType::RECORDS));
        assert!(EventSource {}
            .output_type(&[TimelineType::RECORDS])
            .is_err());
    }
}
