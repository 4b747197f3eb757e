//! `in_set` (alias `filterByValue`): true where the value is one of a list.

use crate::pointwise::{flip_after, run_continuous, run_events};
use crate::prelude::*;

/// Pointwise membership test → bool of the input's kind. Undefined is never in the set.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InSet {
    /// The accepted values, all of the input's value type.
    pub values: Vec<Constant>,
}

impl Operator for InSet {
    fn name(&self) -> &'static str {
        "in_set"
    }

    fn output_type(&self, inputs: &[TimelineType]) -> Result<TimelineType, TypeMismatch> {
        expect_arity(inputs, 1, 1)?;
        if self.values.is_empty() {
            return Err(TypeMismatch::node(
                "`values` is empty: list at least one value",
            ));
        }
        if let Some(bad) = self
            .values
            .iter()
            .find(|c| constant_type(c) != inputs[0].value)
        {
            return Err(TypeMismatch::input(
                0,
                format!(
                    "values must be of the input's type {}, but {bad} is a {}",
                    inputs[0].value,
                    constant_type(bad)
                ),
            ));
        }
        let kind = if inputs[0].kind == Kind::Event {
            Kind::Event
        } else {
            Kind::State
        };
        Ok(TimelineType::new(kind, ValueType::Bool))
    }

    fn layout(&self, inputs: &[TimelineType]) -> Layout {
        deadline_if_numeric(inputs)
    }

    fn constants(&self) -> Vec<Scalar> {
        self.values.iter().map(|c| c.0.clone()).collect()
    }

    fn step(&self, io: &mut Io<'_>) {
        let values = io.consts;
        let f = |t: Time, v: &[Val]| {
            let x = v[0].at(t);
            Val::Bool(x.is_defined() && values.contains(&x))
        };
        if io.inputs.kind(0) == Kind::Event {
            run_events(io, 0, f);
        } else {
            // A numeric input moving through a listed value is in the set for no duration: as
            // `equals`, the output at an instant is its value just after it.
            let f = |t: Time, v: &[Val]| match v[0] {
                Val::Lin { line, .. } if line.per_sec != 0.0 => Val::Bool(false),
                _ => f(t, v),
            };
            let next_break = |t: Time, v: &[Val]| {
                let line = v[0].linear_at(t)?;
                values
                    .iter()
                    .filter_map(|c| match *c {
                        Val::F64(c) => flip_after(
                            t,
                            Linear {
                                at_start: line.at_start - c,
                                per_sec: line.per_sec,
                            },
                            |c| f(c, v).is_true(),
                        ),
                        _ => None,
                    })
                    .min()
            };
            io.deadline = run_continuous(io, f, next_break).unwrap_or(Time::MAX);
        }
    }

    fn describe(&self) -> String {
        let v: Vec<String> = self.values.iter().map(ToString::to_string).collect();
        format!("values: [{}]", v.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::{op, run, try_run, Series};

    #[test]
    fn membership() {
        let out = run(
            op("in_set", "values: [CDN1, CDN3]"),
            vec![Series::str_state(&[(0, "CDN1"), (2, "CDN2"), (4, "CDN3")])],
            &[],
        );
        assert_eq!(
            out.bool_spans(),
            vec![
                (0.0, Some(2.0), Some(true)),
                (2.0, Some(4.0), Some(false)),
                (4.0, None, Some(true))
            ]
        );
        let e = try_run(
            op("filterByValue", "values: [1]"),
            vec![Series::str_state(&[(0, "a")])],
            &[],
        )
        .unwrap_err();
        assert!(
            e.contains("values must be of the input's type string, but 1 is a f64"),
            "{e}"
        );
    }
}
