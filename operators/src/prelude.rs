//! What every operator file imports.

pub(crate) use crate::operator::{pointwise_state, state, NodeState, Operator};
pub(crate) use crate::params::*;
pub(crate) use serde::Deserialize;
pub(crate) use smallvec::SmallVec;
pub(crate) use spanflow_engine::{
    Current, EventsRef, Kind, Linear, Merge, Scalar, ScalarRef, StepCtx, Time, Timeline,
    TimelineType, TypeMismatch, ValueType,
};
