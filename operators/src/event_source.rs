//! `event_source`: the spec's input records as an event timeline (the root of every DAG).

use crate::prelude::*;

/// Emits the step's input records (as one item carrying their count: `get` nodes read the
/// records themselves). Takes no inputs and no parameters.
#[derive(Clone, Debug, Default, Deserialize, JsonSchema)]
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

    fn layout(&self, _: &[TimelineType]) -> Layout {
        Layout {
            wake: Wake::Records,
            ..Layout::default()
        }
    }

    fn step(&self, io: &mut Io<'_>) {
        let n = io.cx.records.len();
        if n > 0 {
            io.out.push_event(io.cx.now, Val::F64(n as f64));
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
