//! Writer schemas by Confluent schema id, each compiled once into a [`DecodePlan`].

use super::confluent::{split_confluent, split_framed, SchemaGuid, SchemaRef};
use super::error::{DecodeError, InvalidSchema, SchemaFetchFailure, SchemaProblem};
use super::plan::DecodePlan;
use super::projection::{DecodedEvent, Projection};
use super::schema::SchemaSource;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

/// Why a fetcher could not provide a schema.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// No schema has this id (cached: the id is never looked up again).
    #[error("no schema with this id")]
    NotFound,
    /// The source is temporarily unavailable (not cached: the next message retries).
    #[error("{0}")]
    Unavailable(String),
    /// The schema exists but is invalid (cached).
    #[error(transparent)]
    Invalid(#[from] InvalidSchema),
    /// The source refuses to serve schemas until its configuration is fixed, e.g. a registry
    /// that rejected the credentials (not cached; the pipeline should stop rather than drop or
    /// retry messages).
    #[error("{0}")]
    Fatal(String),
}

/// A source of writer schemas by id: local files ([`DirFetcher`]) or a Schema Registry
/// ([`RegistryClient`](crate::registry::RegistryClient)).
pub trait SchemaFetcher: Send + Sync {
    /// The schema registered under `id`, parsed (with its references resolved).
    fn fetch(&self, id: u32) -> Result<SchemaSource, FetchError>;

    /// The schema registered under `guid` (header framing). Sources that know schemas by id
    /// only (local files) have none.
    fn fetch_guid(&self, guid: &SchemaGuid) -> Result<SchemaSource, FetchError> {
        let _ = guid;
        Err(FetchError::NotFound)
    }
}

/// Schemas from a directory of `<id>.avsc` or `<id>-<anything>.avsc` files, parsed up front.
#[derive(Clone, Debug, Default)]
pub struct DirFetcher {
    schemas: BTreeMap<u32, SchemaSource>,
}

impl DirFetcher {
    /// Loads every `<id>.avsc` / `<id>-<name>.avsc` file in `dir`. Other files are ignored; an
    /// unreadable or invalid schema file, or two files with the same id, is an error.
    pub fn new(dir: &Path) -> Result<Self, InvalidSchema> {
        let io_err = |e: std::io::Error| InvalidSchema {
            context: dir.display().to_string(),
            message: e.to_string(),
        };
        let mut schemas = BTreeMap::new();
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .map_err(io_err)?
            .map(|e| e.map(|e| e.path()))
            .collect::<Result<_, _>>()
            .map_err(io_err)?;
        entries.sort();
        for path in entries {
            let Some(id) = path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(schema_id_of)
            else {
                continue;
            };
            let schema = SchemaSource::from_file(&path)?;
            if schemas.insert(id, schema).is_some() {
                return Err(InvalidSchema {
                    context: path.display().to_string(),
                    message: format!("another file in {} also has schema id {id}", dir.display()),
                });
            }
        }
        Ok(DirFetcher { schemas })
    }

    /// The ids found, in ascending order.
    pub fn ids(&self) -> impl Iterator<Item = u32> + '_ {
        self.schemas.keys().copied()
    }
}

/// `"12.avsc"` / `"12-heartbeat.avsc"` → 12.
fn schema_id_of(file_name: &str) -> Option<u32> {
    let stem = file_name.strip_suffix(".avsc")?;
    let digits = stem.split_once('-').map_or(stem, |(id, _)| id);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

impl SchemaFetcher for DirFetcher {
    fn fetch(&self, id: u32) -> Result<SchemaSource, FetchError> {
        self.schemas.get(&id).cloned().ok_or(FetchError::NotFound)
    }
}

enum Entry {
    Ready(Arc<DecodePlan>),
    Unusable(Arc<SchemaProblem>),
    Unknown,
}

/// Most unknown schema ids a [`SchemaStore`] remembers. The id is message input: without a
/// bound, a topic of junk with ever new ids would grow the cache, and the scan of every
/// lookup, without end. Past the bound the unknown ids are forgotten (and fetched again when
/// they come back); plans and unusable schemas, one per schema that exists, are kept.
pub const MAX_UNKNOWN_SCHEMA_IDS: usize = 1024;

/// Decode plans by schema id for one projection: each id is fetched and compiled on first use,
/// then served from a cache (including the failures that cannot heal; at most
/// [`MAX_UNKNOWN_SCHEMA_IDS`] unknown ids).
pub struct SchemaStore {
    projection: Projection,
    fetcher: Box<dyn SchemaFetcher>,
    entries: Vec<(SchemaRef, Entry)>,
    last: usize,
    unknown: usize,
}

impl std::fmt::Debug for SchemaStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ids: Vec<String> = self.entries.iter().map(|(id, _)| id.to_string()).collect();
        f.debug_struct("SchemaStore")
            .field("cached_ids", &ids)
            .finish()
    }
}

impl SchemaStore {
    /// A store compiling `projection` against the schemas `fetcher` provides.
    pub fn new(projection: Projection, fetcher: impl SchemaFetcher + 'static) -> Self {
        SchemaStore {
            projection,
            fetcher: Box::new(fetcher),
            entries: Vec::new(),
            last: 0,
            unknown: 0,
        }
    }

    /// A store over the `.avsc` files of `dir` (see [`DirFetcher::new`]).
    pub fn from_dir(dir: &Path, projection: Projection) -> Result<Self, InvalidSchema> {
        Ok(Self::new(projection, DirFetcher::new(dir)?))
    }

    /// The projection plans are compiled for.
    pub fn projection(&self) -> &Projection {
        &self.projection
    }

    /// The compiled plan for schema `id`, fetching and compiling it on first use.
    pub fn plan(&mut self, id: u32) -> Result<&Arc<DecodePlan>, DecodeError> {
        self.plan_for(SchemaRef::Id(id))
    }

    /// The compiled plan for a schema id or GUID, fetching and compiling it on first use.
    pub fn plan_for(&mut self, id: SchemaRef) -> Result<&Arc<DecodePlan>, DecodeError> {
        let idx = match self.entries.get(self.last) {
            Some((cached, _)) if *cached == id => self.last,
            _ => match self.entries.iter().position(|(cached, _)| *cached == id) {
                Some(i) => i,
                None => {
                    let entry = self.load(id)?;
                    if matches!(entry, Entry::Unknown) {
                        self.forget_unknown_ids_if_full();
                        self.unknown += 1;
                    }
                    self.entries.push((id, entry));
                    self.entries.len() - 1
                }
            },
        };
        self.last = idx;
        match &self.entries[idx].1 {
            Entry::Ready(plan) => Ok(plan),
            Entry::Unusable(error) => Err(DecodeError::UnusableSchema {
                id: Box::new(id),
                error: error.clone(),
            }),
            Entry::Unknown => Err(DecodeError::UnknownSchemaId(Box::new(id))),
        }
    }

    /// Drops every cached unknown id once there are [`MAX_UNKNOWN_SCHEMA_IDS`] of them.
    fn forget_unknown_ids_if_full(&mut self) {
        if self.unknown >= MAX_UNKNOWN_SCHEMA_IDS {
            self.entries.retain(|(_, e)| !matches!(e, Entry::Unknown));
            self.unknown = 0;
            self.last = 0;
        }
    }

    /// Number of schema ids cached (plans, unusable schemas and unknown ids).
    pub fn cached_ids(&self) -> usize {
        self.entries.len()
    }

    fn load(&self, id: SchemaRef) -> Result<Entry, DecodeError> {
        let fetched = match &id {
            SchemaRef::Id(n) => self.fetcher.fetch(*n),
            SchemaRef::Guid(guid) => self.fetcher.fetch_guid(guid),
        };
        let schema = match fetched {
            Ok(schema) => schema,
            Err(FetchError::NotFound) => return Ok(Entry::Unknown),
            Err(FetchError::Invalid(e)) => return Ok(Entry::Unusable(Arc::new(e.into()))),
            Err(FetchError::Unavailable(message)) => {
                return Err(DecodeError::SchemaUnavailable(Box::new(
                    SchemaFetchFailure { id, message },
                )))
            }
            Err(FetchError::Fatal(message)) => {
                return Err(DecodeError::SchemaSourceFailed(Box::new(
                    SchemaFetchFailure { id, message },
                )))
            }
        };
        Ok(match DecodePlan::compile(&schema, &self.projection) {
            Ok(plan) => Entry::Ready(Arc::new(plan)),
            Err(e) => Entry::Unusable(Arc::new(e.into())),
        })
    }

    /// Decodes a Confluent-framed message (schema id in the prefix) into `out`; returns its
    /// schema id.
    pub fn decode(&mut self, msg: &[u8], out: &mut DecodedEvent) -> Result<u32, DecodeError> {
        let (id, datum) = split_confluent(msg)?;
        self.plan(id)?.decode(datum, out)?;
        Ok(id)
    }

    /// Decodes a message into `out`, its schema named by `header` (the value of its
    /// `__value_schema_id` header) when it has one, else by its prefix; returns the schema.
    pub fn decode_framed(
        &mut self,
        msg: &[u8],
        header: Option<&[u8]>,
        out: &mut DecodedEvent,
    ) -> Result<SchemaRef, DecodeError> {
        let (id, datum) = split_framed(msg, header)?;
        self.plan_for(id)?.decode(datum, out)?;
        Ok(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_carry_schema_ids() {
        assert_eq!(schema_id_of("1.avsc"), Some(1));
        assert_eq!(schema_id_of("42-heartbeat.avsc"), Some(42));
        assert_eq!(schema_id_of("heartbeat.avsc"), None);
        assert_eq!(schema_id_of("1.json"), None);
        assert_eq!(schema_id_of("-1.avsc"), None);
        assert_eq!(schema_id_of("99999999999.avsc"), None);
    }
}
