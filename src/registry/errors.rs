//! What can go wrong building a registry client or talking to the registry.

use crate::decode::{FetchError, InvalidSchema, SchemaRef};
use crate::secret::SecretError;

/// A [`RegistryConfig`](super::RegistryConfig) that cannot be used. Messages never contain
/// secrets.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// An invalid or inconsistent setting.
    #[error("schema registry config: {0}")]
    Invalid(String),
    /// A secret could not be read.
    #[error("schema registry config: {field}: {error}")]
    Secret {
        /// Which secret (`password` or `token`).
        field: &'static str,
        /// Why it could not be read.
        error: SecretError,
    },
    /// The `ca_file` cannot be read or holds no certificate.
    #[error("schema registry config: ca_file {path}: {message}")]
    CaFile {
        /// The file, as configured.
        path: String,
        /// What is wrong.
        message: String,
    },
}

/// A failed registry call. `request` fields read like `GET /schemas/ids/7` (the path below the
/// configured base URL). No message contains credentials.
#[derive(Clone, Debug, thiserror::Error)]
pub enum RegistryError {
    /// No schema has this id or GUID (HTTP 404, usually error code 40403). Not retried.
    #[error(
        "schema {id} is not registered ({request}: HTTP 404{}): the producer may use another \
         registry or schema context",
        describe_code(*.code, .message)
    )]
    SchemaNotFound {
        /// The id or GUID asked for.
        id: SchemaRef,
        /// The request.
        request: String,
        /// The registry's `error_code` (40403 for an unknown schema).
        code: Option<i64>,
        /// The registry's `message`.
        message: String,
    },
    /// A subject or version does not exist (HTTP 404, error codes 40401 / 40402).
    #[error("{request}: HTTP 404{}", describe_code(*.code, .message))]
    SubjectNotFound {
        /// The request.
        request: String,
        /// The registry's `error_code`.
        code: Option<i64>,
        /// The registry's `message`.
        message: String,
    },
    /// The schema is not Avro (`schemaType` PROTOBUF or JSON): spanflow reads only Avro.
    #[error("{what}: {}", unsupported(.schema_type))]
    UnsupportedSchemaType {
        /// The request that returned it (and the reference, for a referenced schema).
        what: String,
        /// The `schemaType` the registry returned.
        schema_type: String,
    },
    /// The registry's schema text is not a valid Avro schema (with its references).
    #[error(transparent)]
    InvalidSchema(#[from] InvalidSchema),
    /// The registry cannot be reached or keeps failing (connection errors, timeouts, HTTP 429
    /// and 5xx), after every retry the config allows, or the whole call ran out of time.
    #[error("{request}: the schema registry is unavailable after {attempts} attempt(s): {cause}")]
    Unavailable {
        /// The request.
        request: String,
        /// How many attempts were made.
        attempts: u32,
        /// The last failure.
        cause: String,
    },
    /// HTTP 401 or 403: the registry rejected the credentials. Fatal: fix the configuration.
    #[error(
        "{request}: the schema registry rejected the credentials (HTTP {status}{}): check the \
         configured username and password or token, and that they may read schemas",
        describe_code(*.code, .message)
    )]
    CredentialsRejected {
        /// The request.
        request: String,
        /// 401 or 403.
        status: u16,
        /// The registry's `error_code`, if any.
        code: Option<i64>,
        /// The registry's `message`.
        message: String,
    },
    /// The registry refused a request for a reason retrying cannot fix (other 4xx, a redirect,
    /// a TLS failure, an invalid URL). Fatal: fix the configuration.
    #[error("{request}: {problem}")]
    Rejected {
        /// The request.
        request: String,
        /// What the registry or the transport said.
        problem: String,
    },
    /// The registry answered 2xx with a body that is not what its API returns (bad JSON, a
    /// missing field). Fatal: is `url` really a schema registry?
    #[error(
        "{what}: {request} returned a response spanflow cannot read ({problem}); is `url` the \
         base URL of a Confluent-compatible schema registry?"
    )]
    BadResponse {
        /// What was asked for (`schema id 7`, `registering subject s`, …).
        what: String,
        /// The request.
        request: String,
        /// What is wrong with the response.
        problem: String,
    },
    /// Registration failed: the schema is incompatible with the subject's earlier versions
    /// (HTTP 409).
    #[error(
        "cannot register the schema under subject `{subject}`: it is incompatible with the \
         subject's earlier versions (HTTP 409{})",
        describe_code(*.code, .message)
    )]
    Incompatible {
        /// The subject.
        subject: String,
        /// The registry's `error_code`.
        code: Option<i64>,
        /// The registry's `message`.
        message: String,
    },
    /// Registration failed: the registry considers the schema invalid (HTTP 422, e.g. error
    /// code 42201).
    #[error(
        "cannot register the schema under subject `{subject}`: the registry says it is invalid \
         (HTTP 422{})",
        describe_code(*.code, .message)
    )]
    InvalidForRegistry {
        /// The subject.
        subject: String,
        /// The registry's `error_code`.
        code: Option<i64>,
        /// The registry's `message`.
        message: String,
    },
}

fn unsupported(schema_type: &str) -> String {
    format!("schemaType {schema_type} is not supported: spanflow reads only AVRO schemas")
}

/// `, error code 40403: Schema not found`, or just the message.
fn describe_code(code: Option<i64>, message: &str) -> String {
    match (code, message.is_empty()) {
        (Some(c), false) => format!(", error code {c}: {message}"),
        (Some(c), true) => format!(", error code {c}"),
        (None, false) => format!(": {message}"),
        (None, true) => String::new(),
    }
}

impl RegistryError {
    /// Whether the same call may succeed later (the registry was unavailable).
    pub fn is_retriable(&self) -> bool {
        matches!(self, RegistryError::Unavailable { .. })
    }

    /// Whether this is a configuration problem that affects every call (rejected credentials,
    /// a URL that is not a registry, TLS failures): the pipeline should stop.
    pub fn is_fatal(&self) -> bool {
        matches!(
            self,
            RegistryError::CredentialsRejected { .. }
                | RegistryError::Rejected { .. }
                | RegistryError::BadResponse { .. }
        )
    }
}

impl From<RegistryError> for FetchError {
    fn from(e: RegistryError) -> Self {
        match e {
            RegistryError::SchemaNotFound { .. } => FetchError::NotFound,
            RegistryError::Unavailable { .. } => FetchError::Unavailable(e.to_string()),
            RegistryError::InvalidSchema(e) => FetchError::Invalid(e),
            RegistryError::UnsupportedSchemaType { what, schema_type } => {
                FetchError::Invalid(InvalidSchema {
                    context: what,
                    message: unsupported(&schema_type),
                })
            }
            // Never produced by a fetch on their own (reference lookups turn a missing subject
            // into an invalid schema; registration errors come from `register`).
            RegistryError::SubjectNotFound { .. }
            | RegistryError::Incompatible { .. }
            | RegistryError::InvalidForRegistry { .. } => FetchError::Invalid(InvalidSchema {
                context: "schema registry".into(),
                message: e.to_string(),
            }),
            RegistryError::CredentialsRejected { .. }
            | RegistryError::Rejected { .. }
            | RegistryError::BadResponse { .. } => FetchError::Fatal(e.to_string()),
        }
    }
}
