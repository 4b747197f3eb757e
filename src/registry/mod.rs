//! A Confluent Schema Registry client: writer schemas by id for the Kafka consumer (as a
//! [`SchemaFetcher`](crate::decode::SchemaFetcher)), and schema registration for producers.
//!
//! ```no_run
//! use spanflow::decode::{Projection, SchemaStore};
//! use spanflow::registry::{RegistryClient, RegistryConfig};
//!
//! # fn demo(projection: Projection) -> Result<(), Box<dyn std::error::Error>> {
//! let config = RegistryConfig::from_env()?.expect("SPANFLOW_SCHEMA_REGISTRY_URL is set");
//! let client = RegistryClient::new(&config)?;
//! // One store per consumer thread; the clones share one schema cache.
//! let store = SchemaStore::new(projection, client.clone());
//! # Ok(()) }
//! ```
//!
//! The client is blocking (ureq with rustls): it runs on the consumer thread, and only on a
//! `SchemaStore` cache miss. Endpoints used: `GET /schemas/ids/{id}`, `GET /schemas/guids/{guid}`
//! (a schema GUID in a `__value_schema_id` header), `GET /subjects/{subject}/versions/{version}`
//! (references) and
//! `POST /subjects/{subject}/versions` (registration).
//!
//! How failures reach the decoder ([`FetchError`](crate::decode::FetchError)):
//!
//! | registry answer | [`RegistryError`] | `FetchError` |
//! |---|---|---|
//! | 404 (40403) | `SchemaNotFound` | `NotFound` (cached by the store) |
//! | invalid Avro, non-Avro `schemaType`, missing reference | `InvalidSchema`, `UnsupportedSchemaType` | `Invalid` (cached) |
//! | connection error, timeout, 429, 5xx after the retries | `Unavailable` | `Unavailable` (retried later) |
//! | 401 / 403 | `CredentialsRejected` | `Fatal` (stop: fix the config) |
//! | other 4xx, unreadable 2xx body, TLS failure | `Rejected`, `BadResponse` | `Fatal` |

mod client;
mod config;
mod errors;
mod subject;
mod transport;

pub use client::RegistryClient;
pub use config::{RegistryConfig, ENV_PASSWORD, ENV_URL, ENV_USERNAME};
pub use errors::{ConfigError, RegistryError};
pub use subject::SubjectNameStrategy;

#[cfg(test)]
mod tests;
