//! The operator trait (enum-dispatched over [`crate::AnyOperator`]).

use crate::prelude::*;
use enum_dispatch::enum_dispatch;

/// What every operator implements. Operators are immutable after parsing; everything that
/// changes during a session lives in the node's slot, which the interpreter hands to `step`
/// through [`Io`] (its current output value, the words its [`Layout`] asked for, a queue).
#[enum_dispatch]
pub trait Operator {
    /// The name analysts write after `op:`.
    fn name(&self) -> &'static str;

    /// The output type for these input types, or why they are wrong (arity, kinds, values).
    fn output_type(&self, inputs: &[TimelineType]) -> Result<TimelineType, TypeMismatch>;

    /// Per-session words, queue and wake rule for these (checked) input types. The default:
    /// no state besides the output value, stepped only when an input emitted.
    fn layout(&self, _inputs: &[TimelineType]) -> Layout {
        Layout::default()
    }

    /// The constants the operator uses, in the order `io.consts` will hold them.
    fn constants(&self) -> Vec<Scalar> {
        Vec::new()
    }

    /// Initial values of the layout's words (zero otherwise).
    fn init(&self, _words: &mut [u64]) {}

    /// One step: read the inputs' output, write this node's output into `io.out`.
    fn step(&self, io: &mut Io<'_>);

    /// Parameters shown by `explain`.
    fn describe(&self) -> String {
        String::new()
    }
}

/// Time-driven when an input is numeric (its value moves between instants and may cross a
/// threshold): the layout of comparisons, `in_set` and `abs`.
pub(crate) fn deadline_if_numeric(inputs: &[TimelineType]) -> Layout {
    Layout {
        wake: if inputs.iter().any(|t| t.kind == Kind::Numeric) {
            Wake::Deadline
        } else {
            Wake::Inputs
        },
        ..Layout::default()
    }
}

/// A word holding an optional time (`None` as `i64::MIN`, which no event time is).
pub(crate) fn load_time(w: u64) -> Option<Time> {
    let t = w as Time;
    (t != Time::MIN).then_some(t)
}

/// The word of an optional time.
pub(crate) fn store_time(t: Option<Time>) -> u64 {
    t.unwrap_or(Time::MIN) as u64
}

/// One word: a running total, starting at 0.0 (a zeroed word is 0.0), for `count` and
/// `cumulative_sum`.
pub(crate) fn running_total_layout() -> Layout {
    Layout {
        words: 1,
        ..Layout::default()
    }
}
