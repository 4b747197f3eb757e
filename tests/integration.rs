//! The one integration-test binary: each module covers one area.

mod allocations;
mod bad_input;
mod deploy;
mod fuzz_corpus;
mod kafka_smoke;
mod lookups;
mod properties;
mod scylla_cli;
mod scylla_faults;
mod scylla_sink;
mod scylla_tls;
mod specs;
mod stream;
mod support;
mod validate_messages;
