//! The machinery shared by `and` and `or`.

use crate::pointwise::{run_continuous, run_events};
use crate::prelude::*;

/// Type rule: two or more boolean inputs, at most one of them events.
pub(crate) fn output_type(inputs: &[TimelineType]) -> Result<TimelineType, TypeMismatch> {
    expect_arity(inputs, 2, usize::MAX)?;
    for i in 0..inputs.len() {
        expect_bool(inputs, i)?;
    }
    Ok(TimelineType::new(pointwise_kind(inputs)?, ValueType::Bool))
}

/// One step; `all` selects `and` (true) or `or` (false). Undefined inputs count as false.
pub(crate) fn step(
    all: bool,
    state: &mut NodeState,
    inputs: &[&Timeline],
    cx: &StepCtx<'_>,
    out: &mut Timeline,
) {
    let (currents, last) = state!(state, NodeState::Pointwise { inputs, out } => (inputs, out));
    let f = |_: Time, v: &[Current]| {
        Current::Bool(if all {
            v.iter().all(Current::is_true)
        } else {
            v.iter().any(Current::is_true)
        })
    };
    match inputs.iter().position(|t| t.ty().kind == Kind::Event) {
        Some(ev) => run_events(inputs, ev, cx, currents, out, f),
        None => run_continuous(inputs, cx, currents, last, out, f, |_, _| None),
    }
}
