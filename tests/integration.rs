//! The one integration-test binary: each module covers one area.

mod allocations;
mod bad_input;
mod bad_input_kafka;
mod codecs;
mod deploy;
mod differential;
mod file_runs;
mod fuzz_corpus;
mod idle_partitions;
mod kafka_smoke;
mod kafka_tls;
mod lookups;
mod metrics;
mod properties;
mod python_client;
mod registry_tls;
mod schema_evolution;
mod scylla_cli;
mod scylla_faults;
mod scylla_sink;
mod scylla_tls;
mod soak;
mod specs;
mod stream;
mod support;
mod validate_messages;
