//! spanflow: a streaming DAG interpreter for time-ordered span data.
//!
//! The binary's modules live here so integration tests and benchmarks can call them directly:
//! decoding ([`decode`]), grouping events into sessions ([`pipeline`]), output ([`output`]), spec
//! files and their diagnostics ([`spec_file`], [`diagnostics`]), the CLI ([`cli`], [`app`]), the
//! Schema Registry client ([`registry`]), secrets read from the environment ([`secret`]) and
//! the bodies of the fuzz targets ([`fuzzing`]).

pub mod app;
pub mod cli;
pub mod config;
pub mod crash_point;
pub mod decode;
pub mod delivery;
pub mod diagnostics;
pub mod fuzzing;
pub mod generate;
pub mod graph;
pub mod kafka;
#[cfg(test)]
mod log_capture;
pub mod lookup;
pub mod metrics;
pub mod node_stats;
pub mod output;
pub mod pipeline;
pub mod progress;
pub mod registry;
pub mod run_output;
pub mod scylla_admin;
pub mod secret;
pub mod sink;
pub mod spec_file;
pub mod spec_test;
pub mod stream_app;
pub mod table_output;
pub mod trace;
