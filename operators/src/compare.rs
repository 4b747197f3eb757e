//! The machinery shared by the six comparison operators (`equals`, `less_than`, …).

use crate::pointwise::{flip_after, run_continuous, run_events};
use crate::prelude::*;
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
    fn holds(self, a: ScalarRef<'_>, b: ScalarRef<'_>) -> bool {
        let Some(o) = a.compare(b) else { return false };
        match self {
            Cmp::Eq => o == Ordering::Equal,
            Cmp::Ne => o != Ordering::Equal,
            Cmp::Gt => o == Ordering::Greater,
            Cmp::Ge => o != Ordering::Less,
            Cmp::Lt => o == Ordering::Less,
            Cmp::Le => o != Ordering::Greater,
        }
    }

    fn is_ordering(self) -> bool {
        !matches!(self, Cmp::Eq | Cmp::Ne)
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

/// One step of a comparison.
pub(crate) fn step(
    cmp: Cmp,
    value: Option<&Constant>,
    state: &mut NodeState,
    inputs: &[&Timeline],
    cx: &StepCtx<'_>,
    out: &mut Timeline,
) {
    let (currents, last) = state!(state, NodeState::Pointwise { inputs, out } => (inputs, out));
    let f = |t: Time, v: &[Current]| {
        let a = v[0].scalar_at(t);
        let b = match value {
            Some(c) => Some(c.0.as_ref()),
            None => v[1].scalar_at(t),
        };
        Current::Bool(matches!((a, b), (Some(a), Some(b)) if cmp.holds(a, b)))
    };
    if let Some(ev) = inputs.iter().position(|t| t.ty().kind == Kind::Event) {
        run_events(inputs, ev, cx, currents, out, f);
        return;
    }
    let next_break = |t: Time, v: &[Current]| {
        let a = v[0].linear_at(t)?;
        let b = match value {
            Some(Constant(Scalar::F64(c))) => Linear::constant(*c),
            Some(_) => return None,
            None => v[1].linear_at(t)?,
        };
        let diff = Linear {
            at_start: a.at_start - b.at_start,
            per_sec: a.per_sec - b.per_sec,
        };
        flip_after(t, diff, |c| f(c, v).is_true())
    };
    run_continuous(inputs, cx, currents, last, out, f, next_break);
}

/// Declares one comparison operator: its params struct, `Operator` impl and docs.
macro_rules! comparison {
    ($(#[$doc:meta])* $ty:ident, $name:literal, $cmp:expr) => {
        $(#[$doc])*
        #[derive(Clone, Debug, Default, Deserialize)]
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

            fn init_state(&self) -> NodeState {
                pointwise_state(2)
            }

            fn idle_without_input(&self, _: &NodeState, numeric_input: bool, _: &StepCtx<'_>) -> bool {
                !numeric_input
            }

            fn step(&self, state: &mut NodeState, inputs: &[&Timeline], cx: &StepCtx<'_>, out: &mut Timeline) {
                crate::compare::step($cmp, self.value.as_ref(), state, inputs, cx, out)
            }

            fn describe(&self) -> String {
                self.value.as_ref().map(|v| format!("value: {v}")).unwrap_or_default()
            }
        }
    };
}
pub(crate) use comparison;
