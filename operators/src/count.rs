//! `count`: how many events (or state changes) so far.

use crate::prelude::*;

/// Events or state → f64 state: 0 from the session's start, +1 per event (or per change to a
/// defined value of a state).
#[derive(Clone, Debug, Default, Deserialize, JsonSchema)]
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

    fn layout(&self, _: &[TimelineType]) -> Layout {
        running_total_layout()
    }

    fn step(&self, io: &mut Io<'_>) {
        let mut total = f64::from_bits(io.words[0]);
        let ty = io.inputs.ty(0);
        for (t, items) in instants(io.inputs.items(0)) {
            let n = match (ty.kind, ty.value) {
                // `event_source` emits one item carrying its record count.
                (Kind::Event, ValueType::Record) => items
                    .iter()
                    .map(|(_, v)| match v {
                        Val::F64(n) => *n as usize,
                        _ => 0,
                    })
                    .sum(),
                (Kind::Event, _) => items.len(),
                _ => usize::from(items.last().is_some_and(|(_, v)| v.is_defined())),
            };
            if n > 0 {
                total += n as f64;
                io.out.push_state(io.last, t, Val::F64(total));
            }
        }
        // Zero from the session's start when its first instant counted nothing.
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
