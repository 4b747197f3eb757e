//! Shared helpers of the integration tests.

pub mod cql;
pub mod cql_server;
pub mod kafka;
pub mod prometheus;
pub mod python;
pub mod registry_stub;
pub mod tls_proxy;
