//! Helpers shared by the bench targets.

pub mod peers;
pub mod scala;
pub mod workload;
