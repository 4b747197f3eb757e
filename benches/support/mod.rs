//! Helpers shared by the bench targets.

pub mod scala;
pub mod workload;
