//! The machinery shared by `add`, `subtract`, `multiply` and `divide`.

use crate::pointwise::{run_at_changes, run_events};
use crate::prelude::*;

/// Which arithmetic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Arith {
    Add,
    Sub,
    Mul,
    Div,
}

/// Type rule: number inputs (plus the optional constant operand, written last); events if one
/// input is events, numeric if any is numeric, else f64 state. Products and quotients must stay
/// piecewise linear, so at most one factor (and never a divisor) may be numeric.
pub(crate) fn output_type(
    op: Arith,
    value: Option<&Constant>,
    inputs: &[TimelineType],
) -> Result<TimelineType, TypeMismatch> {
    let operands = inputs.len() + usize::from(value.is_some());
    match op {
        Arith::Add | Arith::Mul if operands < 2 => {
            return Err(TypeMismatch::node(format!(
                "needs at least 2 operands (inputs plus `value`), got {operands}"
            )))
        }
        Arith::Sub | Arith::Div if operands != 2 => {
            return Err(TypeMismatch::node(format!(
                "needs exactly 2 operands (two inputs, or one input and `value`), got {operands}"
            )))
        }
        _ => {}
    }
    for i in 0..inputs.len() {
        expect_number(inputs, i)?;
    }
    if let Some(c) = value.filter(|c| constant_type(c) != ValueType::F64) {
        return Err(TypeMismatch::node(format!(
            "`value` must be a number, got {c}"
        )));
    }
    let numeric: Vec<usize> = (0..inputs.len())
        .filter(|&i| inputs[i].kind == Kind::Numeric)
        .collect();
    if op == Arith::Mul && numeric.len() > 1 {
        return Err(TypeMismatch::input(numeric[1], "multiplying two numeric timelines is not piecewise linear; sample one first (e.g. `latest_event_to_state` of events)"));
    }
    if op == Arith::Div && inputs.len() == 2 && inputs[1].kind == Kind::Numeric {
        return Err(TypeMismatch::input(1, "dividing by a numeric timeline is not piecewise linear; the divisor must be f64 state, events or a constant"));
    }
    Ok(TimelineType::new(pointwise_kind(inputs)?, ValueType::F64))
}

/// Combines the operands' linear pieces at one instant; `None` when any is undefined or on
/// division by zero.
fn combine(op: Arith, pieces: impl Iterator<Item = Option<Linear>>) -> Option<Linear> {
    let mut acc: Option<Linear> = None;
    for p in pieces {
        let p = p?;
        acc = Some(match acc {
            None => p,
            Some(a) => match op {
                Arith::Add => Linear {
                    at_start: a.at_start + p.at_start,
                    per_sec: a.per_sec + p.per_sec,
                },
                Arith::Sub => Linear {
                    at_start: a.at_start - p.at_start,
                    per_sec: a.per_sec - p.per_sec,
                },
                Arith::Mul => Linear {
                    at_start: a.at_start * p.at_start,
                    per_sec: a.per_sec * p.at_start + p.per_sec * a.at_start,
                },
                Arith::Div if p.at_start == 0.0 => return None,
                Arith::Div => Linear {
                    at_start: a.at_start / p.at_start,
                    per_sec: a.per_sec / p.at_start,
                },
            },
        });
    }
    acc
}

/// One step of an arithmetic operator; `constant` is the `value:` operand, if any.
pub(crate) fn step(op: Arith, constant: Option<Val>, io: &mut Io<'_>) {
    let constant = match constant {
        Some(Val::F64(c)) => Some(Linear::constant(c)),
        _ => None,
    };
    let numeric_out = io.out.is_numeric();
    let f = |t: Time, v: &[Val]| {
        let pieces = v.iter().map(|c| c.linear_at(t)).chain(constant.map(Some));
        match combine(op, pieces) {
            None => Val::Undef,
            Some(line) if numeric_out => Val::Lin { start: t, line },
            Some(line) => Val::F64(line.at_start),
        }
    };
    match (0..io.inputs.len()).find(|&k| io.inputs.kind(k) == Kind::Event) {
        Some(ev) => run_events(io, ev, f),
        None => {
            run_at_changes(io, f);
        }
    }
}

/// Declares one arithmetic operator.
macro_rules! arithmetic {
    ($(#[$doc:meta])* $ty:ident, $name:literal, $op:expr) => {
        $(#[$doc])*
        #[derive(Clone, Debug, Default, Deserialize, JsonSchema)]
        #[serde(deny_unknown_fields)]
        pub struct $ty {
            /// A constant operand, applied after the inputs (e.g. `subtract` with `value: 1` is `x - 1`).
            #[serde(default)]
            pub value: Option<Constant>,
        }

        impl Operator for $ty {
            fn name(&self) -> &'static str {
                $name
            }

            fn output_type(&self, inputs: &[TimelineType]) -> Result<TimelineType, TypeMismatch> {
                crate::arith::output_type($op, self.value.as_ref(), inputs)
            }

            fn constants(&self) -> Vec<Scalar> {
                self.value.iter().map(|c| c.0.clone()).collect()
            }

            fn step(&self, io: &mut Io<'_>) {
                let constant = io.consts.first().copied();
                crate::arith::step($op, constant, io)
            }

            fn describe(&self) -> String {
                self.value.as_ref().map(|v| format!("value: {v}")).unwrap_or_default()
            }
        }
    };
}
pub(crate) use arithmetic;
