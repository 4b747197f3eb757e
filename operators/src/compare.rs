//! The machinery shared by the six comparison operators (`equals`, `less_than`, …).

use crate::pointwise::{flip_after, run_at_changes, run_continuous, run_events};
use crate::prelude::*;
use spanflow_engine::Interner;
use std::cmp::Ordering;

/// Which comparison.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Cmp {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
}

impl Cmp {
    /// Whether `a cmp b` holds: false when either is undefined or the types differ. Numbers
    /// compare as IEEE 754 says: `-0` equals `0`, and NaN is unordered, so every comparison
    /// with it is false except `not_equals` (the negation of `equals`). Strings are equal when
    /// their symbols are, and ordered by their text.
    #[inline]
    fn holds(self, a: Val, b: Val, strings: &Interner) -> bool {
        let o = match (a, b) {
            (Val::F64(a), Val::F64(b)) => match a.partial_cmp(&b) {
                Some(o) => o,
                None => return self == Cmp::Ne,
            },
            (Val::Bool(a), Val::Bool(b)) => a.cmp(&b),
            (Val::Sym(a), Val::Sym(b)) if a == b => Ordering::Equal,
            (Val::Sym(_), Val::Sym(_)) if !self.is_ordering() => return self == Cmp::Ne,
            (Val::Sym(a), Val::Sym(b)) => strings.resolve(a).cmp(strings.resolve(b)),
            _ => return false,
        };
        match self {
            Cmp::Eq => o == Ordering::Equal,
            Cmp::Ne => o != Ordering::Equal,
            Cmp::Gt => o == Ordering::Greater,
            Cmp::Ge => o != Ordering::Less,
            Cmp::Lt => o == Ordering::Less,
            Cmp::Le => o != Ordering::Greater,
        }
    }

    /// Whether `a cmp b` holds just after `t`, for state and numeric inputs: where the two
    /// are equal at `t` but move apart (a numeric timeline crossing or leaving the other), their
    /// slopes decide. So a boolean span that starts at a crossing starts at the crossing
    /// instant for `>` and `>=` alike, and a line passing through a value is never `equals`
    /// it (a single instant has no duration).
    #[inline]
    fn holds_after(self, a: Val, b: Val, t: Time, strings: &Interner) -> bool {
        let (x, y) = (a.at(t), b.at(t));
        if let (Val::F64(x), Val::F64(y)) = (x, y) {
            let (sa, sb) = (slope(a), slope(b));
            if x == y && sa != sb {
                return self.holds(Val::F64(sa), Val::F64(sb), strings);
            }
        }
        self.holds(x, y, strings)
    }

    fn is_ordering(self) -> bool {
        !matches!(self, Cmp::Eq | Cmp::Ne)
    }
}

/// Change per second of a value: a linear piece's slope, else 0.
#[inline]
fn slope(v: Val) -> f64 {
    match v {
        Val::Lin { line, .. } => line.per_sec,
        _ => 0.0,
    }
}

/// Type rule: one input and a `value`, or two inputs; same value types; bool output of the
/// inputs' kind (events if either input is events).
pub(crate) fn output_type(
    cmp: Cmp,
    value: Option<&Constant>,
    inputs: &[TimelineType],
) -> Result<TimelineType, TypeMismatch> {
    let value_type = |t: TimelineType| t.value;
    match value {
        Some(_) => expect_arity(inputs, 1, 1)?,
        None if inputs.len() == 1 => {
            return Err(TypeMismatch::node("compares one input with `value:` under `with:`, or two inputs with each other; got one input and no `value`"))
        }
        None => expect_arity(inputs, 2, 2)?,
    }
    for (i, t) in inputs.iter().enumerate() {
        if t.value == ValueType::Record {
            return Err(TypeMismatch::input(
                i,
                "expects the events of one field; extract it first with `get`",
            ));
        }
    }
    let left = value_type(inputs[0]);
    let right = match value {
        Some(c) => constant_type(c),
        None => value_type(inputs[1]),
    };
    if left != right {
        let what = match value {
            Some(c) => format!("the constant {c}"),
            None => format!("input 2 ({})", inputs[1]),
        };
        return Err(TypeMismatch::input(
            0,
            format!("compares {} with {what}: the value types differ", inputs[0]),
        ));
    }
    if cmp.is_ordering() && left == ValueType::Bool {
        return Err(TypeMismatch::input(
            0,
            "booleans have no order; use `equals` or `not_equals`",
        ));
    }
    let kind = pointwise_kind(inputs)?;
    Ok(TimelineType::new(
        if kind == Kind::Event {
            Kind::Event
        } else {
            Kind::State
        },
        ValueType::Bool,
    ))
}

/// One step of a comparison; `constant` is the `value:` operand, if any.
pub(crate) fn step(cmp: Cmp, constant: Option<Val>, io: &mut Io<'_>) {
    let strings = io.cx.strings;
    let f = |t: Time, v: &[Val]| {
        let a = v[0].at(t);
        let b = match constant {
            Some(c) => c,
            None => v[1].at(t),
        };
        Val::Bool(cmp.holds(a, b, strings))
    };
    if let Some(ev) = (0..io.inputs.len()).find(|&k| io.inputs.kind(k) == Kind::Event) {
        run_events(io, ev, f);
        return;
    }
    // States: the value just after each instant (see `Cmp::holds_after`).
    let f = |t: Time, v: &[Val]| {
        let b = constant.unwrap_or(v.get(1).copied().unwrap_or(Val::Undef));
        Val::Bool(cmp.holds_after(v[0], b, t, strings))
    };
    if (0..io.inputs.len()).all(|k| io.inputs.kind(k) == Kind::State) {
        // Step functions only: no crossing between their changes.
        run_at_changes(io, f);
        return;
    }
    let next_break = |t: Time, v: &[Val]| {
        let a = v[0].linear_at(t)?;
        let b = match constant {
            Some(Val::F64(c)) => Linear::constant(c),
            Some(_) => return None,
            None => v[1].linear_at(t)?,
        };
        let diff = Linear {
            at_start: a.at_start - b.at_start,
            per_sec: a.per_sec - b.per_sec,
        };
        flip_after(t, diff, |c| f(c, v).is_true())
    };
    io.deadline = run_continuous(io, f, next_break).unwrap_or(Time::MAX);
}

/// Declares one comparison operator: its params struct, `Operator` impl and docs.
macro_rules! comparison {
    ($(#[$doc:meta])* $ty:ident, $name:literal, $cmp:expr) => {
        $(#[$doc])*
        #[derive(Clone, Debug, Default, Deserialize, JsonSchema)]
        #[serde(deny_unknown_fields)]
        pub struct $ty {
            /// Compare with this constant; leave out to compare two inputs.
            #[serde(default)]
            pub value: Option<Constant>,
        }

        impl Operator for $ty {
            fn name(&self) -> &'static str {
                $name
            }

            fn output_type(&self, inputs: &[TimelineType]) -> Result<TimelineType, TypeMismatch> {
                crate::compare::output_type($cmp, self.value.as_ref(), inputs)
            }

            fn layout(&self, inputs: &[TimelineType]) -> Layout {
                deadline_if_numeric(inputs)
            }

            fn constants(&self) -> Vec<Scalar> {
                self.value.iter().map(|c| c.0.clone()).collect()
            }

            fn step(&self, io: &mut Io<'_>) {
                let constant = io.consts.first().copied();
                crate::compare::step($cmp, constant, io)
            }

            fn describe(&self) -> String {
                self.value.as_ref().map(|v| format!("value: {v}")).unwrap_or_default()
            }
        }
    };
}
pub(crate) use comparison;

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [Cmp; 6] = [Cmp::Eq, Cmp::Ne, Cmp::Gt, Cmp::Ge, Cmp::Lt, Cmp::Le];

    fn holding(a: f64, b: f64) -> Vec<Cmp> {
        let strings = Interner::new();
        ALL.into_iter()
            .filter(|c| c.holds(Val::F64(a), Val::F64(b), &strings))
            .collect()
    }

    #[test]
    fn nan_is_unordered_so_only_not_equals_holds() {
        for (a, b) in [(f64::NAN, 60.0), (60.0, f64::NAN), (f64::NAN, f64::NAN)] {
            assert_eq!(holding(a, b), vec![Cmp::Ne], "{a} vs {b}");
        }
        assert_eq!(holding(f64::NAN, f64::INFINITY), vec![Cmp::Ne]);
    }

    #[test]
    fn zeros_are_equal_and_infinities_ordered() {
        assert_eq!(holding(-0.0, 0.0), vec![Cmp::Eq, Cmp::Ge, Cmp::Le]);
        assert_eq!(
            holding(f64::INFINITY, 1e308),
            vec![Cmp::Ne, Cmp::Gt, Cmp::Ge]
        );
        assert_eq!(
            holding(f64::NEG_INFINITY, f64::NEG_INFINITY),
            vec![Cmp::Eq, Cmp::Ge, Cmp::Le]
        );
    }
}
