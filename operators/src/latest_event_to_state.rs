//! `latest_event_to_state`: holds each event's value until the next event.

use crate::prelude::*;

/// Event → state. Equal consecutive values merge into one span; of several events at one
/// instant, the last one wins. Undefined before the first event.
#[derive(Clone, Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LatestEventToState {}

impl Operator for LatestEventToState {
    fn name(&self) -> &'static str {
        "latest_event_to_state"
    }

    fn output_type(&self, inputs: &[TimelineType]) -> Result<TimelineType, TypeMismatch> {
        expect_arity(inputs, 1, 1)?;
        expect_kind(inputs, 0, Kind::Event, "")?;
        if inputs[0].value == ValueType::Record {
            return Err(TypeMismatch::input(
                0,
                "expects the events of one field; extract it first with `get`",
            ));
        }
        Ok(TimelineType::state(inputs[0].value))
    }

    fn step(&self, io: &mut Io<'_>) {
        for (t, events) in instants(io.inputs.items(0)) {
            if let Some(&(_, v)) = events.last() {
                io.out.push_state(io.last, t, v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::{op, run, Series};
    use spanflow_engine::{Current, Scalar};

    /// Acceptance case 1 (paper Table 1): duplicates coalesce into one span.
    #[test]
    fn coalesces_duplicates() {
        let out = run(
            op("latest_event_to_state", ""),
            vec![Series::str_events(&[(0, "CDN2"), (5, "CDN1"), (9, "CDN1")])],
            &[],
        );
        assert_eq!(
            out.spans(),
            vec![
                (0.0, Some(5.0), Some(Scalar::Str("CDN2".into()))),
                (5.0, None, Some(Scalar::Str("CDN1".into())))
            ]
        );
    }

    /// Acceptance case 10: of several events at one instant the last is kept.
    #[test]
    fn keeps_the_last_event_of_an_instant() {
        let out = run(
            op("latestEventToState", ""),
            vec![Series::str_events(&[
                (1100, "start"),
                (1100, "click"),
                (1300, "ad_load"),
            ])],
            &[1000],
        );
        assert_eq!(
            out,
            crate::testing::Output::State(vec![
                (1100.0, Some(1300.0), Current::Str("click".into())),
                (1300.0, None, Current::Str("ad_load".into())),
            ])
        );
    }
}
