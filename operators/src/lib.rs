//! The spanflow operator catalogue, the YAML DAG spec that names it, and the validated program.
//!
//! Adding an operator: one file here (params struct, `Operator` impl, tests at the bottom), one
//! `mod` line, one variant of [`AnyOperator`].

mod arith;
mod compare;
mod logic;
mod operator;
mod params;
mod pointwise;
mod prelude;

pub mod evaluate_at;
pub mod lookups;
pub mod program;
pub mod recorder;
pub mod schema;
pub mod spec;
pub mod testing;

mod abs;
mod add;
mod and;
mod constant;
mod count;
mod cumulative_sum;
mod divide;
mod duration_in_cur_state;
mod duration_where;
mod equals;
mod event_source;
mod filter;
mod get;
mod greater_or_equal;
mod greater_than;
mod has_existed;
mod has_existed_within;
mod if_then_else;
mod in_set;
mod latest_event_to_state;
mod less_or_equal;
mod less_than;
mod multiply;
mod not;
mod not_equals;
mod or;
mod prior_event;
mod state_change_events;
mod subtract;

pub use get::{FieldType, Get};
pub use operator::Operator;
pub use params::{Constant, Secs, TestValue};
pub use program::Program;

use enum_dispatch::enum_dispatch;
use serde::Deserialize;
use spanflow_engine::{Evaluate, Io, Layout, Scalar, TimelineType, TypeMismatch};

/// Every operator. The variant's snake_case name is what analysts write after `op:`; Conviva's
/// camelCase names are accepted as aliases.
#[enum_dispatch(Operator)]
#[derive(Clone, Debug, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
#[allow(missing_docs)]
pub enum AnyOperator {
    #[serde(alias = "eventSourceTimeline", alias = "eventSource")]
    EventSource(event_source::EventSource),
    #[serde(alias = "extract")]
    Get(get::Get),
    #[serde(alias = "latestEventToState")]
    LatestEventToState(latest_event_to_state::LatestEventToState),
    #[serde(alias = "stateChangeEvents")]
    StateChangeEvents(state_change_events::StateChangeEvents),
    #[serde(alias = "equal")]
    Equals(equals::Equals),
    #[serde(alias = "notEquals")]
    NotEquals(not_equals::NotEquals),
    #[serde(alias = "greaterThan")]
    GreaterThan(greater_than::GreaterThan),
    #[serde(alias = "greaterThanOrEqualTo", alias = "greaterOrEqual")]
    GreaterOrEqual(greater_or_equal::GreaterOrEqual),
    #[serde(alias = "lessThan")]
    LessThan(less_than::LessThan),
    #[serde(alias = "lessThanOrEqualTo", alias = "lessOrEqual")]
    LessOrEqual(less_or_equal::LessOrEqual),
    #[serde(alias = "filterByValue", alias = "inSet")]
    InSet(in_set::InSet),
    And(and::And),
    Or(or::Or),
    Not(not::Not),
    If(if_then_else::If),
    Add(add::Add),
    Subtract(subtract::Subtract),
    Multiply(multiply::Multiply),
    Divide(divide::Divide),
    Constant(constant::ConstantOp),
    Abs(abs::Abs),
    Filter(filter::Filter),
    #[serde(alias = "hasExisted")]
    HasExisted(has_existed::HasExisted),
    #[serde(alias = "hasExistedWithin")]
    HasExistedWithin(has_existed_within::HasExistedWithin),
    #[serde(alias = "durationTrue", alias = "durationWhere")]
    DurationWhere(duration_where::DurationWhere),
    #[serde(alias = "durationInCurState", alias = "durationSinceLastEvent")]
    DurationInCurState(duration_in_cur_state::DurationInCurState),
    Count(count::Count),
    #[serde(alias = "priorEvent")]
    PriorEvent(prior_event::PriorEvent),
    #[serde(alias = "cumulativeSum")]
    CumulativeSum(cumulative_sum::CumulativeSum),
}

/// The engine's view of an operator: forwards to the enum-dispatched [`Operator`] trait.
impl Evaluate for AnyOperator {
    fn name(&self) -> &'static str {
        Operator::name(self)
    }

    fn output_type(&self, inputs: &[TimelineType]) -> Result<TimelineType, TypeMismatch> {
        Operator::output_type(self, inputs)
    }

    fn layout(&self, inputs: &[TimelineType]) -> Layout {
        Operator::layout(self, inputs)
    }

    fn constants(&self) -> Vec<Scalar> {
        Operator::constants(self)
    }

    fn init(&self, words: &mut [u64]) {
        Operator::init(self, words)
    }

    #[inline]
    fn step(&self, io: &mut Io<'_>) {
        Operator::step(self, io)
    }

    fn describe(&self) -> String {
        Operator::describe(self)
    }
}
