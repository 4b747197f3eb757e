//! The one integration-test binary: each module covers one area.

mod allocations;
mod bad_input;
mod deploy;
mod kafka_smoke;
mod properties;
mod scylla_faults;
mod scylla_sink;
mod specs;
mod stream;
mod support;
mod validate_messages;
