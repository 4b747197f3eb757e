//! The blocking registry client: schemas by id (cached forever, concurrent misses coalesced),
//! references, and registration.

use super::config::{Auth, RegistryConfig};
use super::errors::{ConfigError, RegistryError};
use super::transport::{encode_segment, Method, Reply, Transport};
use crate::decode::{
    FetchError, InvalidSchema, SchemaFetcher, SchemaGuid, SchemaRef, SchemaSource,
};
use serde::Deserialize;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::{Duration, Instant};

/// Most referenced schemas one schema may pull in (directly and transitively).
const MAX_REFERENCES: usize = 256;

type Flight = Arc<OnceLock<Result<SchemaSource, RegistryError>>>;

/// A blocking client of a Confluent-compatible Schema Registry.
///
/// Built once at startup with [`RegistryClient::new`]; clones are cheap and share the
/// connection pool and the caches, so every consumer thread can hold one. Used as a
/// [`SchemaFetcher`] it serves [`SchemaStore`](crate::decode::SchemaStore) cache misses:
///
/// - parsed schemas are cached by id forever (ids are immutable);
/// - concurrent misses for the same id, from any number of threads, share one HTTP request;
/// - connection errors, timeouts, HTTP 429 and 5xx are retried with exponential backoff, other
///   failures are not, and the whole fetch is bounded by `fetch_timeout_secs`;
/// - failures are not cached here (the `SchemaStore` caches the permanent ones).
#[derive(Clone)]
pub struct RegistryClient {
    inner: Arc<Inner>,
}

struct Inner {
    transport: Transport,
    fetch_timeout: Duration,
    /// Schemas by id and by GUID: a finished entry is `Ok` (failed flights are removed).
    schemas: Mutex<HashMap<SchemaRef, Flight>>,
    /// Referenced schemas by (subject, version), for numbered versions only.
    references: Mutex<HashMap<(String, String), Arc<SubjectVersion>>>,
    /// Ids returned by `register`, by (subject, schema).
    registered: Mutex<HashMap<(String, String), u32>>,
}

impl std::fmt::Debug for RegistryClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let auth = match &self.inner.transport.auth {
            Auth::None => "none".to_owned(),
            Auth::Basic { username, .. } => format!("basic (username {username})"),
            Auth::Bearer { .. } => "bearer token".to_owned(),
        };
        f.debug_struct("RegistryClient")
            .field("url", &self.inner.transport.base())
            .field("auth", &auth)
            .field("cached_schemas", &lock(&self.inner.schemas).len())
            .finish()
    }
}

/// `GET /schemas/ids/{id}` and `GET /schemas/guids/{guid}`.
#[derive(Deserialize)]
struct SchemaById {
    schema: String,
    #[serde(rename = "schemaType", default)]
    schema_type: Option<String>,
    #[serde(default)]
    references: Option<Vec<Reference>>,
}

/// `GET /subjects/{subject}/versions/{version}` (the fields we use).
#[derive(Deserialize)]
struct SubjectVersion {
    schema: String,
    #[serde(rename = "schemaType", default)]
    schema_type: Option<String>,
    #[serde(default)]
    references: Option<Vec<Reference>>,
}

/// One entry of `references`.
#[derive(Clone, Deserialize)]
struct Reference {
    name: String,
    subject: String,
    version: serde_json::Value,
}

impl Reference {
    /// The version as it goes in the URL (a number, or `latest`).
    fn version(&self) -> Option<String> {
        match &self.version {
            serde_json::Value::Number(n) => Some(n.to_string()),
            serde_json::Value::String(s) if !s.is_empty() => Some(s.clone()),
            _ => None,
        }
    }
}

/// `POST /subjects/{subject}/versions` response.
#[derive(Deserialize)]
struct Registered {
    id: u32,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // The maps stay consistent whatever panicked while holding them.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn check_avro(
    schema_type: Option<&str>,
    what: impl FnOnce() -> String,
) -> Result<(), RegistryError> {
    match schema_type {
        None => Ok(()),
        Some(t) if t.eq_ignore_ascii_case("AVRO") => Ok(()),
        Some(t) => Err(RegistryError::UnsupportedSchemaType {
            what: what(),
            schema_type: t.to_owned(),
        }),
    }
}

impl RegistryClient {
    /// A client for `config`: validates it, reads its secrets (environment variables or files)
    /// and its CA file. Makes no request.
    pub fn new(config: &RegistryConfig) -> Result<Self, ConfigError> {
        let resolved = config.resolve()?;
        Ok(RegistryClient {
            inner: Arc::new(Inner {
                transport: Transport::new(config, resolved)?,
                fetch_timeout: config.fetch_timeout,
                schemas: Mutex::new(HashMap::new()),
                references: Mutex::new(HashMap::new()),
                registered: Mutex::new(HashMap::new()),
            }),
        })
    }

    /// The registry's base URL.
    pub fn url(&self) -> &str {
        self.inner.transport.base()
    }

    /// The writer schema registered under `id`, with its references resolved: from the cache,
    /// or fetched (once, however many threads ask at the same time).
    pub fn schema(&self, id: u32) -> Result<SchemaSource, RegistryError> {
        self.schema_by(SchemaRef::Id(id))
    }

    /// The writer schema registered under `guid` (`GET /schemas/guids/{guid}`, what
    /// confluent-kafka's deserializer asks for a schema GUID in a `__value_schema_id` header),
    /// cached like [`RegistryClient::schema`].
    pub fn schema_by_guid(&self, guid: &SchemaGuid) -> Result<SchemaSource, RegistryError> {
        self.schema_by(SchemaRef::Guid(*guid))
    }

    fn schema_by(&self, id: SchemaRef) -> Result<SchemaSource, RegistryError> {
        let flight = lock(&self.inner.schemas).entry(id).or_default().clone();
        match flight.get_or_init(|| self.load(id)) {
            Ok(schema) => Ok(schema.clone()),
            Err(e) => {
                // Not cached: the next call asks the registry again.
                let mut schemas = lock(&self.inner.schemas);
                if schemas.get(&id).is_some_and(|f| Arc::ptr_eq(f, &flight)) {
                    schemas.remove(&id);
                }
                Err(e.clone())
            }
        }
    }

    /// Fetches and parses schema `id` and its references.
    fn load(&self, id: SchemaRef) -> Result<SchemaSource, RegistryError> {
        let deadline = Instant::now() + self.inner.fetch_timeout;
        let path = match id {
            SchemaRef::Id(n) => format!("/schemas/ids/{n}"),
            SchemaRef::Guid(guid) => format!("/schemas/guids/{guid}"),
        };
        let request = format!("GET {path}");
        let reply = self.inner.transport.call(Method::Get, &path, deadline)?;
        if reply.status == 404 {
            return match reply.registry_error() {
                Some((code, message)) => Err(RegistryError::SchemaNotFound {
                    id,
                    request,
                    code,
                    message,
                }),
                None => Err(not_a_registry(&request, &reply)),
            };
        }
        let what = format!("schema {id}");
        let body: SchemaById = parse_ok(&reply, &request, &what)?;
        check_avro(body.schema_type.as_deref(), || request.clone())?;
        let references =
            self.resolve_references(body.references.unwrap_or_default(), &request, deadline)?;
        tracing::debug!(
            schema = %id,
            references = references.len(),
            "Fetched a schema from the registry."
        );
        SchemaSource::parse_with_references(&body.schema, &references, &request)
            .map_err(RegistryError::InvalidSchema)
    }

    /// The schema texts of `refs` and of everything they reference, each (subject, version)
    /// fetched once.
    fn resolve_references(
        &self,
        refs: Vec<Reference>,
        origin: &str,
        deadline: Instant,
    ) -> Result<Vec<String>, RegistryError> {
        let mut seen = HashSet::new();
        let mut pending = refs;
        let mut texts = Vec::new();
        while let Some(r) = pending.pop() {
            let describe = || {
                format!(
                    "reference `{}` (subject `{}`, version {})",
                    r.name, r.subject, r.version
                )
            };
            let Some(version) = r.version() else {
                return Err(RegistryError::InvalidSchema(InvalidSchema {
                    context: origin.to_owned(),
                    message: format!("{} has no usable version", describe()),
                }));
            };
            if !seen.insert((r.subject.clone(), version.clone())) {
                continue;
            }
            if seen.len() > MAX_REFERENCES {
                return Err(RegistryError::InvalidSchema(InvalidSchema {
                    context: origin.to_owned(),
                    message: format!("more than {MAX_REFERENCES} referenced schemas"),
                }));
            }
            let found = self.subject_version(&r.subject, &version, deadline);
            let found = match found {
                Ok(found) => found,
                Err(RegistryError::SubjectNotFound { code, message, .. }) => {
                    let mut why = format!("{} does not exist (HTTP 404", describe());
                    if let Some(c) = code {
                        why.push_str(&format!(", error code {c}"));
                    }
                    why.push(')');
                    if !message.is_empty() {
                        why.push_str(&format!(": {message}"));
                    }
                    return Err(RegistryError::InvalidSchema(InvalidSchema {
                        context: origin.to_owned(),
                        message: why,
                    }));
                }
                Err(e) => return Err(e),
            };
            check_avro(found.schema_type.as_deref(), || {
                format!("{origin}: {}", describe())
            })?;
            pending.extend(found.references.iter().flatten().cloned());
            texts.push(found.schema.clone());
        }
        Ok(texts)
    }

    /// `GET /subjects/{subject}/versions/{version}`, cached for numbered versions.
    fn subject_version(
        &self,
        subject: &str,
        version: &str,
        deadline: Instant,
    ) -> Result<Arc<SubjectVersion>, RegistryError> {
        let key = (subject.to_owned(), version.to_owned());
        if let Some(found) = lock(&self.inner.references).get(&key) {
            return Ok(found.clone());
        }
        let path = format!(
            "/subjects/{}/versions/{}",
            encode_segment(subject),
            encode_segment(version)
        );
        let request = format!("GET {path}");
        let reply = self.inner.transport.call(Method::Get, &path, deadline)?;
        if reply.status == 404 {
            return match reply.registry_error() {
                Some((code, message)) => Err(RegistryError::SubjectNotFound {
                    request,
                    code,
                    message,
                }),
                None => Err(not_a_registry(&request, &reply)),
            };
        }
        let what = format!("subject `{subject}` version {version}");
        let found: Arc<SubjectVersion> = Arc::new(parse_ok(&reply, &request, &what)?);
        if version.bytes().all(|b| b.is_ascii_digit()) {
            lock(&self.inner.references).insert(key, found.clone());
        }
        Ok(found)
    }

    /// Registers an Avro schema (its JSON text) under `subject` and returns its id (the
    /// existing id if the subject already has this schema). Producer side; pick the subject
    /// with a [`SubjectNameStrategy`](super::SubjectNameStrategy). Results are cached: the same
    /// (subject, schema) is sent once.
    ///
    /// HTTP 409 is [`RegistryError::Incompatible`], 422 is
    /// [`RegistryError::InvalidForRegistry`].
    pub fn register(&self, subject: &str, schema_json: &str) -> Result<u32, RegistryError> {
        let key = (subject.to_owned(), schema_json.to_owned());
        if let Some(id) = lock(&self.inner.registered).get(&key) {
            return Ok(*id);
        }
        let deadline = Instant::now() + self.inner.fetch_timeout;
        let path = format!("/subjects/{}/versions", encode_segment(subject));
        let request = format!("POST {path}");
        let body = serde_json::json!({ "schema": schema_json }).to_string();
        let reply = self
            .inner
            .transport
            .call(Method::Post(&body), &path, deadline)?;
        let (code, message) = reply.describe();
        match reply.status {
            409 => {
                return Err(RegistryError::Incompatible {
                    subject: subject.to_owned(),
                    code,
                    message,
                })
            }
            422 => {
                return Err(RegistryError::InvalidForRegistry {
                    subject: subject.to_owned(),
                    code,
                    message,
                })
            }
            _ => {}
        }
        let what = format!("registering a schema under subject `{subject}`");
        let id = parse_ok::<Registered>(&reply, &request, &what)?.id;
        lock(&self.inner.registered).insert(key, id);
        tracing::info!(subject, id, "Registered a schema.");
        Ok(id)
    }
}

/// A 404 without the registry's error body: the URL probably points elsewhere.
fn not_a_registry(request: &str, reply: &Reply) -> RegistryError {
    RegistryError::Rejected {
        request: request.to_owned(),
        problem: format!(
            "HTTP 404 without a schema registry error body ({:?}); is `url` the base URL of a \
             Confluent-compatible schema registry?",
            super::transport::snippet(&reply.body)
        ),
    }
}

/// The JSON body of a successful reply; 401/403 and other non-2xx statuses as errors.
fn parse_ok<T: serde::de::DeserializeOwned>(
    reply: &Reply,
    request: &str,
    what: &str,
) -> Result<T, RegistryError> {
    match reply.status {
        200..=299 => {}
        401 | 403 => {
            let (code, message) = reply.describe();
            return Err(RegistryError::CredentialsRejected {
                request: request.to_owned(),
                status: reply.status,
                code,
                message,
            });
        }
        status => {
            let (code, message) = reply.describe();
            let mut problem = format!("the schema registry refused the request (HTTP {status}");
            if let Some(c) = code {
                problem.push_str(&format!(", error code {c}"));
            }
            problem.push(')');
            if !message.is_empty() {
                problem.push_str(&format!(": {message}"));
            }
            return Err(RegistryError::Rejected {
                request: request.to_owned(),
                problem,
            });
        }
    }
    serde_json::from_str(&reply.body).map_err(|e| RegistryError::BadResponse {
        what: what.to_owned(),
        request: request.to_owned(),
        problem: if e.is_data() {
            e.to_string()
        } else {
            format!(
                "not JSON: {e}; body starts {:?}",
                super::transport::snippet(&reply.body)
            )
        },
    })
}

impl SchemaFetcher for RegistryClient {
    fn fetch(&self, id: u32) -> Result<SchemaSource, FetchError> {
        self.schema(id).map_err(FetchError::from)
    }

    fn fetch_guid(&self, guid: &SchemaGuid) -> Result<SchemaSource, FetchError> {
        self.schema_by_guid(guid).map_err(FetchError::from)
    }
}
