//! Shared helpers of the integration tests.

pub mod cql;
pub mod kafka;
