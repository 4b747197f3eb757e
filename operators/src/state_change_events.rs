//! `state_change_events`: an event at every change of a state, carrying the new value.

use crate::prelude::*;

/// State → events. Changes to undefined emit nothing.
#[derive(Clone, Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StateChangeEvents {}

impl Operator for StateChangeEvents {
    fn name(&self) -> &'static str {
        "state_change_events"
    }

    fn output_type(&self, inputs: &[TimelineType]) -> Result<TimelineType, TypeMismatch> {
        expect_arity(inputs, 1, 1)?;
        expect_kind(
            inputs,
            0,
            Kind::State,
            "; numeric timelines change continuously, compare them first",
        )?;
        Ok(TimelineType::events(inputs[0].value))
    }

    fn step(&self, io: &mut Io<'_>) {
        for &(t, v) in io.inputs.items(0) {
            if v.is_defined() {
                io.out.push_event(t, v.at(t));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::{op, run, Series};
    use spanflow_engine::Scalar;

    #[test]
    fn emits_each_change() {
        let out = run(
            op("state_change_events", ""),
            vec![Series::str_state(&[
                (0, "buffer"),
                (3, "play"),
                (8, "buffer"),
            ])],
            &[5],
        );
        let s = |v: &str| Scalar::Str(v.into());
        assert_eq!(
            out.events(),
            &[(0.0, s("buffer")), (3.0, s("play")), (8.0, s("buffer"))]
        );
    }

    #[test]
    fn rejects_events_input() {
        let e = crate::testing::try_run(
            op("stateChangeEvents", ""),
            vec![Series::str_events(&[(0, "x")])],
            &[],
        )
        .unwrap_err();
        assert!(
            e.contains("expects a state timeline, got events<string>"),
            "{e}"
        );
    }
}
