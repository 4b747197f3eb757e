//! What every operator file imports.

pub(crate) use crate::operator::{
    deadline_if_numeric, load_time, running_total_layout, store_time, Operator,
};
pub(crate) use crate::params::*;
pub(crate) use schemars::JsonSchema;
pub(crate) use serde::Deserialize;
pub(crate) use spanflow_engine::{
    instants, Io, Kind, Layout, Linear, Merge, Scalar, Time, TimelineType, TypeMismatch, Val,
    ValueType, Wake,
};
