//! The operator trait (enum-dispatched over [`crate::AnyOperator`]) and per-session node state.

use crate::prelude::*;
use enum_dispatch::enum_dispatch;
use std::collections::VecDeque;

/// What every operator implements. Operators are immutable after parsing; everything that
/// changes during a session lives in the [`NodeState`] the interpreter hands to `step`.
#[enum_dispatch]
pub trait Operator {
    /// The name analysts write after `op:`.
    fn name(&self) -> &'static str;

    /// The output type for these input types, or why they are wrong (arity, kinds, values).
    fn output_type(&self, inputs: &[TimelineType]) -> Result<TimelineType, TypeMismatch>;

    /// State for a new session.
    fn init_state(&self) -> NodeState {
        NodeState::Stateless
    }

    /// Whether a step in which no input emitted anything would emit nothing and leave `state`
    /// as it is, so the interpreter may skip the node (it never skips a session's first step
    /// or its end). `numeric_input` says whether an input is a numeric (piecewise-linear)
    /// timeline, whose value moves between instants. Operators whose output can move with
    /// time alone (windows closing, a line crossing a threshold) answer no while that can
    /// happen.
    fn idle_without_input(
        &self,
        _state: &NodeState,
        _numeric_input: bool,
        _cx: &StepCtx<'_>,
    ) -> bool {
        false
    }

    /// One step: read the inputs' output, write this node's output into `out`.
    fn step(
        &self,
        state: &mut NodeState,
        inputs: &[&Timeline],
        cx: &StepCtx<'_>,
        out: &mut Timeline,
    );

    /// Parameters shown by `explain`.
    fn describe(&self) -> String {
        String::new()
    }
}

/// Per-session state of one node. Shapes are shared by operators that need the same memory.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum NodeState {
    /// Nothing to remember.
    #[default]
    Stateless,
    /// The node's current output value.
    Last(Current),
    /// Current value of each input, and of the output.
    Pointwise {
        /// One per input.
        inputs: SmallVec<[Current; 2]>,
        /// The current output.
        out: Current,
    },
    /// A true-window: output true until `until`.
    Window {
        /// When the window closes, if open.
        until: Option<Time>,
        /// The (boolean) input's current value, for state inputs.
        input: Current,
        /// The current output.
        out: Current,
    },
    /// A running total and the current output.
    Total {
        /// The total so far.
        total: f64,
        /// The current output.
        out: Current,
    },
    /// Recent values, oldest first (`prior_event`, sliding windows).
    History {
        /// Remembered (time, value) pairs.
        items: VecDeque<(Time, Current)>,
        /// The input's current value.
        input: Current,
        /// The current output.
        out: Current,
    },
    /// A boolean input seen through a trailing window.
    Sliding {
        /// Input changes `(time, value)` the window's trailing edge has not passed yet.
        pending: VecDeque<(Time, bool)>,
        /// The input's value now.
        input: bool,
        /// The input's value at the trailing edge (`now − window`).
        trailing: bool,
        /// The current output.
        out: Current,
    },
}

/// Unwraps the expected state shape; any other shape is an interpreter bug.
macro_rules! state {
    ($state:expr, $pat:pat => $body:expr) => {
        match $state {
            $pat => $body,
            other => panic!("internal error: unexpected node state {other:?}; this is a bug, please report it"),
        }
    };
}
pub(crate) use state;

/// A fresh pointwise state for `n` inputs.
pub(crate) fn pointwise_state(n: usize) -> NodeState {
    NodeState::Pointwise {
        inputs: smallvec::smallvec![Current::Undefined; n],
        out: Current::Undefined,
    }
}
