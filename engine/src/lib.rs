//! The spanflow engine: span timelines, DAG checks and the incremental interpreter. No I/O.
//!
//! A spec's nodes become a [`dag::Plan`] after [`dag::build_plan`] checks ids, inputs, cycles and
//! types. An [`dag::Interpreter`] then runs the plan one step per instant for each session:
//! every node reads what its inputs emitted during the step (a few [`span::Span`]s at most) and
//! emits its own, keeping O(1) state per session in a [`dag::Session`].

pub mod dag;
pub mod error;
pub mod kind;
pub mod merge;
pub mod record;
pub mod span;
pub mod time;
pub mod timeline;
pub mod value;

pub use dag::{
    build_plan, Evaluate, Interpreter, InterpreterStats, NodeDecl, NodeStats, Plan, PlanNode,
    Session, StepCtx,
};
pub use error::{Location, PlanError, TypeMismatch};
pub use kind::{Kind, TimelineType};
pub use merge::{EventsRef, Merge};
pub use record::{FieldValue, Record};
pub use span::{EventsAtEnd, OutputSpans, Span};
pub use time::{Time, TimeInterval, TimeUnit, MAX_ABS_TIME, OPEN_END};
pub use timeline::Timeline;
pub use value::{Current, Linear, Scalar, ScalarRef, Str, ValueType};
