//! `duration_in_cur_state` (alias `durationSinceLastEvent`): seconds since the state last changed.

use crate::prelude::*;

/// State → numeric seconds: a sawtooth that restarts at 0 at every change; undefined while the
/// input is undefined.
#[derive(Clone, Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DurationInCurState {}

impl Operator for DurationInCurState {
    fn name(&self) -> &'static str {
        "duration_in_cur_state"
    }

    fn output_type(&self, inputs: &[TimelineType]) -> Result<TimelineType, TypeMismatch> {
        expect_arity(inputs, 1, 1)?;
        expect_kind(
            inputs,
            0,
            Kind::State,
            "; for events, make a state first with `latest_event_to_state`",
        )?;
        Ok(TimelineType::NUMERIC)
    }

    fn step(&self, io: &mut Io<'_>) {
        for &(t, v) in io.inputs.items(0) {
            let v = if v.is_defined() {
                Val::Lin {
                    start: t,
                    line: Linear {
                        at_start: 0.0,
                        per_sec: 1.0,
                    },
                }
            } else {
                Val::Undef
            };
            io.out.push_state(io.last, t, v);
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::{op, run, Series};

    /// Acceptance case 4: Buffer@0, Play@3, Buffer@8, Pause@14 → 2, 4, 5, 6 at t = 2, 7, 13, 20.
    #[test]
    fn sawtooth() {
        let out = run(
            op("duration_in_cur_state", ""),
            vec![Series::str_state(&[
                (0, "buffer"),
                (3, "play"),
                (8, "buffer"),
                (14, "pause"),
            ])],
            &[2, 7, 13, 20],
        );
        let at: Vec<f64> = [2.0, 7.0, 13.0, 20.0]
            .iter()
            .map(|&t| out.f64_at(t))
            .collect();
        assert_eq!(at, [2.0, 4.0, 5.0, 6.0]);
        assert_eq!(
            (out.f64_at(3.0), out.f64_at(8.0), out.f64_at(14.0)),
            (0.0, 0.0, 0.0)
        );
    }
}
