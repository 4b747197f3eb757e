//! The machinery shared by `and` and `or`.

use crate::pointwise::{run_at_changes, run_events};
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
pub(crate) fn step(all: bool, io: &mut Io<'_>) {
    let f = |_: Time, v: &[Val]| {
        Val::Bool(if all {
            v.iter().all(Val::is_true)
        } else {
            v.iter().any(Val::is_true)
        })
    };
    match (0..io.inputs.len()).find(|&k| io.inputs.kind(k) == Kind::Event) {
        Some(ev) => run_events(io, ev, f),
        None => run_at_changes(io, f),
    }
}
