//! Shared code of the benchmarks.

pub mod workload;
