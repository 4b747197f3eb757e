//! The spanflow engine: span timelines, DAG checks and the incremental interpreter. No I/O.
//!
//! A spec's nodes become a [`dag::Plan`] after [`dag::build_plan`] checks ids, inputs, cycles and
//! types. An [`dag::Interpreter`] compiles the plan into fixed per-node slots and runs it one
//! step per instant for each session: a node is stepped only when an input emitted, its field
//! is present, or its deadline is due; it reads what its inputs emitted during the step (a few
//! changes at most, in [`buf::Buf`]s) and emits its own, keeping a few words of state per
//! session in a [`dag::Session`].

pub mod buf;
pub mod dag;
pub mod error;
pub mod kind;
pub mod merge;
pub mod record;
pub mod span;
pub mod strings;
pub mod time;
pub mod val;
pub mod value;

pub use buf::{Buf, NO_ORIGIN};
pub use dag::{
    build_plan, queue_bytes, Evaluate, Inputs, Interpreter, InterpreterStats, Io, Layout, NodeDecl,
    NodeStats, Plan, PlanNode, Queue, Session, SessionHeader, SessionParts, StepCtx, StringRemap,
    Wake,
};
pub use error::{Location, PlanError, TypeMismatch};
pub use kind::{Kind, TimelineType};
pub use merge::{instants, Merge};
pub use record::{Event, Field, FieldValue, Record, INLINE_FIELDS};
pub use span::Span;
pub use strings::Interner;
pub use time::{Time, TimeInterval, TimeUnit, MAX_ABS_TIME, OPEN_END};
pub use val::{SlotCodec, Sym, Val};
pub use value::{Current, Linear, Scalar, ScalarRef, Str, ValueType};
