//! `cumulative_sum`: the running total of number events.

use crate::prelude::*;

/// f64 events → f64 state: 0 from the session's start, plus each event's value.
#[derive(Clone, Debug, Default, Deserialize, JsonSchema)]
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

    fn layout(&self, _: &[TimelineType]) -> Layout {
        running_total_layout()
    }

    fn step(&self, io: &mut Io<'_>) {
        let mut total = f64::from_bits(io.words[0]);
        for (t, events) in instants(io.inputs.items(0)) {
            for (_, v) in events {
                if let Val::F64(x) = v {
                    total += x;
                }
            }
            io.out.push_state(io.last, t, Val::F64(total));
        }
        // Zero from the session's start when its first instant had no events.
        if io.cx.is_first() && io.out.is_empty() {
            io.out.push_state(io.last, io.cx.now, Val::F64(total));
        }
        io.words[0] = total.to_bits();
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
