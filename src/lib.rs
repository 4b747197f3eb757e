//! spanflow: a streaming DAG interpreter for time-ordered span data.
//!
//! The binary's modules live here so integration tests and benchmarks can call them directly.

pub mod decode;
pub mod generate;
